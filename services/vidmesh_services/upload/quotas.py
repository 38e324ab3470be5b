"""The Lua scripts behind UploadState's quota accounting (keys: see store.py).

Each runs atomically in Redis: the check of a limit and the counting that follows cannot
interleave with another InitUpload of the same owner. Each is idempotent, since the Redis client
retries a command whose connection broke (maybe after it ran): a reservation is keyed by upload
id, a stored source by video id, and totals change only when those entries do. Sizes travel as
decimal strings and totals change with HINCRBY, so no byte count passes through a Lua number
(exact only to 2^53) on its way into Redis.
"""

from __future__ import annotations

# KEYS: upload fields, expiry, owners, totals, open. ARGV: id, owner, size, ttl, expiry time,
# max open uploads, max open bytes, max stored bytes (0: no limit), then the upload's fields as
# name, value pairs. Returns {} once stored, or {limit, used, maximum} when refused.
CREATE = """
if redis.call('HEXISTS', KEYS[5], ARGV[1]) == 1 then return {} end
local size = tonumber(ARGV[3])
local count = redis.call('HLEN', KEYS[5])
local open = tonumber(redis.call('HGET', KEYS[4], 'open_bytes') or '0')
local stored = tonumber(redis.call('HGET', KEYS[4], 'stored_bytes') or '0')
local max_uploads, max_open, max_stored = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
if max_uploads > 0 and count + 1 > max_uploads then return {'max_open_uploads', count, max_uploads} end
if max_open > 0 and open + size > max_open then return {'max_open_bytes', open, max_open} end
if max_stored > 0 and stored + open + size > max_stored then return {'max_stored_bytes', stored + open, max_stored} end
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[4], 'open_bytes', ARGV[3])
return {}
"""

# Releases an open upload's reservation, if it still has one; {owners}, {totals} and {open} are
# the positions of those keys in KEYS.
_RELEASE_RESERVATION = """
redis.call('HDEL', KEYS[{owners}], ARGV[1])
local reserved = redis.call('HGET', KEYS[{open}], ARGV[1])
if reserved then
  redis.call('HDEL', KEYS[{open}], ARGV[1])
  redis.call('HINCRBY', KEYS[{totals}], 'open_bytes', '-' .. reserved)
end
"""

# KEYS: upload fields, chunks, done, expiry, owners, totals, open, stored. ARGV: id,
# 'owner video_id', seconds to remember it, video id, size.
FINISH = (
    """
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[4], ARGV[1])
"""
    + _RELEASE_RESERVATION.format(owners=5, totals=6, open=7)
    + """
if redis.call('HSETNX', KEYS[8], ARGV[4], ARGV[5]) == 1 then
  redis.call('HINCRBY', KEYS[6], 'stored_bytes', ARGV[5])
end
"""
)

# KEYS: upload fields, chunks, lock, expiry, owners, totals, open. ARGV: id.
RELEASE = """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
""" + _RELEASE_RESERVATION.format(owners=5, totals=6, open=7)

# KEYS: totals, stored. ARGV: video ids whose sources are gone.
UNSTORE = """
for _, video in ipairs(ARGV) do
  local size = redis.call('HGET', KEYS[2], video)
  if size then
    redis.call('HDEL', KEYS[2], video)
    redis.call('HINCRBY', KEYS[1], 'stored_bytes', '-' .. size)
  end
end
"""
