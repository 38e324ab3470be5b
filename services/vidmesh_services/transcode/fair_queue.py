"""Which waiting transcode job runs next: fair between owners, short sources first, in Redis.

The rule (start-time fair queuing, a job's cost being its source's duration in seconds):
- every owner with jobs waiting has a virtual time, the seconds of source handed to its jobs.
  The next job goes to the owner with the least virtual time (ties: by owner name), whose virtual
  time then grows by that job's cost. The clock is the virtual time of the last job handed out;
  an owner joining the line starts at the clock, or where it left off if that is later, so idle
  owners earn no credit and leaving and coming back sheds no debt (an idle owner's virtual time
  is kept for a day);
- among one owner's jobs, the one with the least order key goes first: its submit time plus its
  cost (SHORT_FIRST_WEIGHT), so short sources go first, but a long job is passed only by jobs
  submitted within its own duration after it, and never starves.

Each step is one Lua script, so a job is never lost nor handed out twice between two commands:
- submissions are appended to the stream `jobs` (fields entry, job, owner, cost, order); every
  script first takes what is new there into the line (its consumer group, acknowledged at once);
- dispatch() moves the chosen job onto the stream `running` and reads it through its consumer
  group in the same script: from then on it is a pending entry of that worker, heart-beaten,
  taken over by another worker if this one dies, acknowledged when done (store.JobQueue);
- requeue() moves a retry that is due from the retry zset back into the line, keeping its place;
- positions() reads the whole line and replays the rule: the order jobs leave in if none arrive.
Every script may run twice (the client retries a command whose connection broke): taking in,
requeueing and reading are idempotent, and a dispatch whose reply was lost leaves its job pending
for that worker, taken over after the visibility timeout like a dead worker's.

Keys, under vidmesh:transcode: (see store.py for the rest): ready:{owner} (zset job id -> order
key), waiting (hash job id -> QueuedJob), cost (hash job id -> cost), owners (zset owner ->
virtual time, owners with jobs waiting), vtime:{owner} (an idle owner's virtual time), clock.
"""

from __future__ import annotations

import heapq

import redis.asyncio as redis
from vidmesh.transcode.v1 import transcode_internal_service_pb2 as internal_pb2

from ..storage.redis_replies import reply_bytes, reply_text

QueuedJob = internal_pb2.QueuedJob
PREFIX = "vidmesh:transcode:"
INTAKE = PREFIX + "jobs"
RUNNING = PREFIX + "running"
GROUP = "transcoders"
OWNERS = PREFIX + "owners"
WAITING = PREFIX + "waiting"
COSTS = PREFIX + "cost"
CLOCK = PREFIX + "clock"
RETRIES = PREFIX + "retry"
# A source whose duration the catalog could not tell is scheduled as this long.
UNKNOWN_COST_SECONDS = 60.0
# No job costs less, so a flood of tiny or zero-length sources still advances its owner's clock.
MIN_COST_SECONDS = 1.0
# An owner's job is placed as if submitted this many times its cost later (shortest first, aged).
SHORT_FIRST_WEIGHT = 1.0
IDLE_VTIME_SECONDS = 86400

_KEYS = [INTAKE, RUNNING, OWNERS, WAITING, COSTS, CLOCK, RETRIES]

# KEYS: 1 intake stream, 2 running stream, 3 owners, 4 waiting, 5 cost, 6 clock, 7 retry.
# ARGV: 1 group, 2 key prefix, 3 idle-vtime ttl, then the script's own.
_COMMON = """
local function num(x) return string.format('%.17g', x) end

local function enqueue(job, owner, entry, cost, order)
  if redis.call('HSETNX', KEYS[4], job, entry) == 0 then return 0 end  -- waiting already
  redis.call('HSET', KEYS[5], job, cost)
  redis.call('ZADD', ARGV[2] .. 'ready:' .. owner, order, job)
  if not redis.call('ZSCORE', KEYS[3], owner) then
    local idle = ARGV[2] .. 'vtime:' .. owner
    local start = math.max(tonumber(redis.call('GET', idle) or '0'), tonumber(redis.call('GET', KEYS[6]) or '0'))
    redis.call('DEL', idle)
    redis.call('ZADD', KEYS[3], num(start), owner)
  end
  return 1
end

local function intake()
  while true do
    local read = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], 'intake', 'COUNT', 100, 'STREAMS', KEYS[1], '>')
    if type(read) == 'table' and read.err then
      if not string.find(read.err, 'NOGROUP') then error(read.err) end
      redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
    elseif not read then
      return
    else
      for _, item in ipairs(read[1][2]) do
        local flat, f = item[2], {}
        for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
        if f.entry and f.job and f.owner and f.cost and f.order then
          enqueue(f.job, f.owner, f.entry, f.cost, f.order)
        else
          redis.call('XADD', KEYS[2], '*', unpack(flat))  -- an older or unreadable entry: passed on as it is
        end
        redis.call('XACK', KEYS[1], ARGV[1], item[1])
      end
    end
  end
end
"""

# ARGV[4]: the worker (consumer). Returns {1, entry id, fields} or {0, last intake id}.
_DISPATCH = (
    _COMMON
    + """
local function deliver()
  local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[4], 'COUNT', 1, 'STREAMS', KEYS[2], '>')
  if read then return {1, read[1][2][1][1], read[1][2][1][2]} end
  return nil
end

intake()
local ready = deliver()  -- one passed on by intake first
if ready then return ready end
local head = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
while #head == 2 do
  local owner, vt = head[1], head[2]
  local queue = ARGV[2] .. 'ready:' .. owner
  local first = redis.call('ZRANGE', queue, 0, 0)
  if #first == 1 then
    local job = first[1]
    local entry, cost = redis.call('HGET', KEYS[4], job), redis.call('HGET', KEYS[5], job) or '0'
    redis.call('ZREM', queue, job)
    redis.call('HDEL', KEYS[4], job)
    redis.call('HDEL', KEYS[5], job)
    redis.call('SET', KEYS[6], vt)
    local after = num(tonumber(vt) + tonumber(cost))
    if redis.call('EXISTS', queue) == 1 then
      redis.call('ZADD', KEYS[3], after, owner)
    else
      redis.call('ZREM', KEYS[3], owner)
      redis.call('SET', ARGV[2] .. 'vtime:' .. owner, after, 'EX', ARGV[3])
    end
    if entry then
      redis.call('XADD', KEYS[2], '*', 'entry', entry)
      return deliver()
    end
  else
    redis.call('ZREM', KEYS[3], owner)  -- nothing waiting: not in line
  end
  head = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
return {0, last[1] and last[1][1] or '0-0'}
"""
)

# ARGV[4..8]: retry member, job id, owner, cost, order. Returns 1 if this call moved it.
_REQUEUE = (
    _COMMON
    + """
if redis.call('ZREM', KEYS[7], ARGV[4]) == 0 then return 0 end  -- another worker moved it
enqueue(ARGV[5], ARGV[6], ARGV[4], ARGV[7], ARGV[8])
return 1
"""
)

# Returns {owner, virtual time, {job, cost, job, cost, ...}} per owner in line.
_LINE = (
    _COMMON
    + """
intake()
local line = {}
local owners = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
for i = 1, #owners, 2 do
  local jobs = {}
  for _, job in ipairs(redis.call('ZRANGE', ARGV[2] .. 'ready:' .. owners[i], 0, -1)) do
    jobs[#jobs + 1] = job
    jobs[#jobs + 1] = redis.call('HGET', KEYS[5], job) or '0'
  end
  line[#line + 1] = {owners[i], owners[i + 1], jobs}
end
return line
"""
)


def job_cost(job: QueuedJob) -> float:
    return max(job.source_seconds, MIN_COST_SECONDS) if job.source_seconds > 0 else UNKNOWN_COST_SECONDS


def order_key(job: QueuedJob) -> float:
    """Where the job stands among its owner's: submitted plus its cost, in seconds."""
    return job.submit_time.ToMilliseconds() / 1000 + SHORT_FIRST_WEIGHT * job_cost(job)


def intake_fields(job: QueuedJob) -> dict[str, bytes | str]:
    """The intake stream entry for a submitted job: the record, and what the scripts need of it."""
    return {
        "entry": job.SerializeToString(),
        "job": job.job.removeprefix("jobs/"),
        "owner": job.owner,
        "cost": repr(job_cost(job)),
        "order": repr(order_key(job)),
    }


class FairQueue:
    def __init__(self, client: redis.Redis):
        self._dispatch = client.register_script(_DISPATCH)
        self._requeue = client.register_script(_REQUEUE)
        self._line = client.register_script(_LINE)
        self._common = [GROUP, PREFIX, str(IDLE_VTIME_SECONDS)]

    async def dispatch(self, consumer: str) -> tuple[str, dict[bytes, bytes]] | str:
        """The next job, now a pending entry of `consumer` on the running stream, as (entry id,
        fields); or, when no job waits, the id of the last intake entry to wait for newer ones after."""
        reply = await self._dispatch(keys=_KEYS, args=[*self._common, consumer])
        if not isinstance(reply, list) or not reply or reply[0] != 1:
            return reply_text(reply[1]) if isinstance(reply, list) and len(reply) > 1 else "0-0"
        flat = [reply_bytes(v) for v in reply[2]]
        return reply_text(reply[1]), dict(zip(flat[::2], flat[1::2], strict=True))

    async def requeue(self, member: bytes, job: QueuedJob) -> bool:
        """Moves a due retry (member: its QueuedJob as stored in the retry zset, job: the same,
        read) back into line, in its first place; False if another worker did already."""
        fields = intake_fields(job)
        args = [member, fields["job"], job.owner, fields["cost"], fields["order"]]
        return bool(await self._requeue(keys=_KEYS, args=[*self._common, *args]))

    async def positions(self) -> dict[str, int]:
        """Every waiting job's place in line (job id -> 1, 2, ...), if no other job arrives: the
        order dispatch() would hand them out in."""
        reply = await self._line(keys=_KEYS, args=self._common)
        heap: list[tuple[float, bytes, int, list[tuple[str, float]]]] = []
        for owner, vtime, flat in reply or []:
            jobs = [(reply_text(flat[i]), float(reply_text(flat[i + 1]))) for i in range(0, len(flat), 2)]
            if jobs:
                heap.append((float(reply_text(vtime)), reply_bytes(owner), 0, jobs))
        heapq.heapify(heap)
        places: dict[str, int] = {}
        while heap:
            vtime, owner, index, jobs = heapq.heappop(heap)
            job_id, cost = jobs[index]
            places[job_id] = len(places) + 1
            if index + 1 < len(jobs):
                heapq.heappush(heap, (vtime + cost, owner, index + 1, jobs))
        return places
