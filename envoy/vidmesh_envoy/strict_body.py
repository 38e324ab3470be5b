"""Refusing REST bodies with fields the RPC does not have, in a Lua filter before the transcoder.

Envoy's transcoder (1.40) drops unknown JSON fields without a word and has no option to refuse
them (its request_validation_options cover methods, query parameters and binding collisions
only), so a misspelled field would be ignored: `{"tittle": "x"}` changes nothing and succeeds.
This filter walks the body against the message's fields, generated here from the descriptor
set, and answers 400 with a google.rpc.Status naming them (BadRequest). It only reads: a body
that is not valid JSON passes on, and the transcoder says what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2

from .errors import STATUS_METADATA
from .rest import RestMethod

LUA = "envoy.filters.http.lua"
FieldType = descriptor_pb2.FieldDescriptorProto
# Messages with a JSON form of their own (strings, numbers, free-form objects): not walked.
OWN_JSON_FORM = ("google.protobuf.",)


def _messages(descriptors: descriptor_pb2.FileDescriptorSet) -> dict[str, descriptor_pb2.DescriptorProto]:
    found: dict[str, descriptor_pb2.DescriptorProto] = {}

    def add(prefix: str, messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
        for message in messages:
            found[f"{prefix}.{message.name}"] = message
            add(f"{prefix}.{message.name}", message.nested_type)

    for file in descriptors.file:
        add(file.package, file.message_type)
    return found


def body_type(method: RestMethod, messages: dict[str, descriptor_pb2.DescriptorProto]) -> str:
    """The message a method's JSON body holds: the request, or the request field named by `body`."""
    if method.body == "*":
        return method.input_type
    field = next(f for f in messages[method.input_type].field if f.name == method.body)
    return field.type_name.lstrip(".")


def _entry(field: descriptor_pb2.FieldDescriptorProto, messages: dict[str, descriptor_pb2.DescriptorProto], todo: list[str]) -> str:
    """A field's value in the Lua table: `false` (not walked), "T" (a message) or `{map = "T"}`."""
    if field.type != FieldType.TYPE_MESSAGE:
        return "false"
    name = field.type_name.lstrip(".")
    target = messages[name]
    if target.options.map_entry:
        value = next(f for f in target.field if f.number == 2)
        inner = _entry(value, messages, todo)
        return f"{{map = {inner}}}" if inner != "false" else "false"
    if name.startswith(OWN_JSON_FORM):
        return "false"
    todo.append(name)
    return _lua_string(name)


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_types(descriptors: descriptor_pb2.FileDescriptorSet, roots: Iterable[str]) -> str:
    """`TYPES = {...}`: each message reachable from roots, with its fields by JSON and proto name."""
    messages = _messages(descriptors)
    todo, done, lines = list(roots), set(), []
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        fields = []
        for field in messages[name].field:
            entry = _entry(field, messages, todo)
            for key in dict.fromkeys((field.json_name or field.name, field.name)):
                fields.append(f"[{_lua_string(key)}] = {entry}")
        lines.append(f"  [{_lua_string(name)}] = {{{', '.join(fields)}}},")
    return "local TYPES = {\n" + "\n".join(sorted(lines)) + "\n}\n"


def route_metadata(method: RestMethod, message: str) -> dict[str, Any]:
    """What a method's route tells the filter: the body's message and where it sits in the request."""
    prefix = "" if method.body == "*" else method.body
    return {"filter_metadata": {LUA: {"body_type": message, "body_field": prefix}}}


def lua_filter(descriptors: descriptor_pb2.FileDescriptorSet, methods: Iterable[RestMethod]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the Lua filter, {rpc: body message}) for the methods that take a body."""
    messages = _messages(descriptors)
    bodies = {m.rpc: body_type(m, messages) for m in methods if m.body}
    source = lua_types(descriptors, bodies.values()) + f"local STATUS_METADATA = {_lua_string(STATUS_METADATA)}\n" + WALKER
    config = {
        "name": LUA,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": source},
        },
    }
    return config, bodies


# Lua 5.1 (LuaJIT). TYPES[name] maps each field name to false, a message name or {map = entry}.
WALKER = r"""
local check_members

local ESCAPES = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t"}

local function skip_space(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

-- s:sub(i, i) is '"'. Returns the string (a non-ASCII \u escape becomes "?": no field name has
-- one) and the index after it; errors on malformed JSON.
local function read_string(s, i)
  local out, j = {}, i + 1
  while true do
    local k = s:find('["\\]', j)
    if not k then error("unterminated string") end
    out[#out + 1] = s:sub(j, k - 1)
    if s:sub(k, k) == '"' then return table.concat(out), k + 1 end
    local escape = s:sub(k + 1, k + 1)
    if escape == "u" then
      local code = tonumber(s:sub(k + 2, k + 5), 16)
      if not code then error("bad escape") end
      out[#out + 1] = code < 128 and string.char(code) or "?"
      j = k + 6
    else
      out[#out + 1] = ESCAPES[escape] or error("bad escape")
      j = k + 2
    end
  end
end

-- Walks the value at i against entry (see TYPES) and returns the index after it, adding the
-- paths of unknown fields to unknown.
local function check_value(s, i, entry, path, unknown)
  i = skip_space(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    if type(entry) == "string" then return check_members(s, i, TYPES[entry], false, path, unknown) end
    if type(entry) == "table" then return check_members(s, i, nil, entry.map, path, unknown) end
    return check_members(s, i, nil, false, path, unknown)
  elseif c == "[" then
    i = skip_space(s, i + 1)
    if s:sub(i, i) == "]" then return i + 1 end
    local n = 0
    while true do
      i = skip_space(s, check_value(s, i, entry, path .. "[" .. n .. "]", unknown))
      n = n + 1
      local d = s:sub(i, i)
      if d == "]" then return i + 1 end
      if d ~= "," then error("bad array") end
      i = i + 1
    end
  elseif c == '"' then
    local _, j = read_string(s, i)
    return j
  end
  local j = s:find("[^%w%.%+%-]", i) or #s + 1
  if j == i then error("value expected") end
  return j
end

-- An object at i: with fields, a message's (unknown keys are reported); without, a map or a
-- free-form value whose members all have entry values.
check_members = function(s, i, fields, values, path, unknown)
  i = skip_space(s, i + 1)
  if s:sub(i, i) == "}" then return i + 1 end
  while true do
    if s:sub(i, i) ~= '"' then error("key expected") end
    local key
    key, i = read_string(s, i)
    i = skip_space(s, i)
    if s:sub(i, i) ~= ":" then error("colon expected") end
    local name = path == "" and key or path .. "." .. key
    local entry = values
    if fields then
      entry = fields[key]
      if entry == nil then
        unknown[#unknown + 1] = name
        entry = false
      end
    end
    i = skip_space(s, check_value(s, i + 1, entry, name, unknown))
    local d = s:sub(i, i)
    if d == "}" then return i + 1 end
    if d ~= "," then error("bad object") end
    i = skip_space(s, i + 1)
  end
end

local function json_string(text)
  return '"' .. (text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end)) .. '"'
end

local function refusal(unknown, request_id)
  local violations = {}
  for n, field in ipairs(unknown) do
    violations[n] = '{"field":' .. json_string(field) .. ',"description":"no such field in this request"}'
  end
  return '{"code":3,"message":' .. json_string("unknown field(s) in the request body: " .. table.concat(unknown, ", "))
    .. ',"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"INVALID_ARGUMENT",'
    .. '"domain":"vidmesh.dev","metadata":{"request_id":' .. json_string(request_id or "") .. '}},'
    .. '{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[' .. table.concat(violations, ",") .. ']}]}'
end

function envoy_on_request(handle)
  -- Read everything before body(): it yields, and objects taken before it are then out of scope.
  local meta = handle:metadata()
  local body_type, body_field = meta:get("body_type"), meta:get("body_field") or ""
  if body_type == nil then return end
  local request_id = handle:headers():get("x-request-id")
  local body = handle:body()
  if body == nil or body:length() == 0 then return end
  local unknown = {}
  local parsed = pcall(check_value, body:getBytes(0, body:length()), 1, body_type, body_field, unknown)
  if not parsed or #unknown == 0 then return end
  -- The answer is a google.rpc.Status already: the JSON error mappers (errors.py) leave it be.
  handle:streamInfo():dynamicMetadata():set(STATUS_METADATA, "json", true)
  handle:respond({[":status"] = "400", ["content-type"] = "application/json"}, refusal(unknown, request_id))
end
"""
