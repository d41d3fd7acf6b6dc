-- The authenticated hot path: one round trip reads the session, the user's profile and a
-- usage counter, and slides the idle expiry when last_seen is older than the refresh step.
-- KEYS[1] session  KEYS[2] user's profile  KEYS[3] counter
-- (a stale index entry left by an expired session is pruned by list.lua)
-- ARGV[1] now  ARGV[2] idle timeout  ARGV[3] refresh step  (milliseconds)
-- Returns {session record, profile, counter} as packed strings (src/session/packed.rs), the
-- record with last_seen as written back, or false when there is no live session.
--
-- A key of another type is a session or profile of the layout before packed strings (a
-- hash): it reads as absent and is deleted, so that it neither fails the request
-- (WRONGTYPE) nor lingers until its TTL.
local function get_string(key)
  local value = redis.pcall('GET', key)
  if type(value) == 'string' then
    return value
  end
  if value then
    redis.call('DEL', key)
  end
  return nil
end

local v = get_string(KEYS[1])
if not v then
  return false
end
-- created|last_seen|absolute|transport|ip|user agent, or created|last_seen|absolute|ip|user
-- agent as written before sessions had a transport: exactly what packed.rs decodes, so that
-- a value this script returns never fails to decode (15 digits keep a number exact in Lua's
-- doubles). A fourth field naming a transport must be followed by two more.
local c, s, a, rest = string.match(v, '^(%d+)|(%d+)|(%d+)()|[^|]*|')
local tag = rest and string.match(v, '^|([^|]*)|', rest)
local truncated = (tag == 'cookie' or tag == 'bearer')
  and not string.find(v, '^|[^|]*|[^|]*|', rest)
if not c or truncated or #c > 15 or #s > 15 or #a > 15 then
  redis.call('DEL', KEYS[1])
  return false
end
local now = tonumber(ARGV[1])
local idle = tonumber(ARGV[2])
local last = tonumber(s)
local absolute = tonumber(a)
-- Enforced here as well as by the key's TTL: the idle timeout may have been shortened by
-- configuration since the TTL was set.
if now >= absolute or now >= last + idle then
  redis.call('DEL', KEYS[1])
  return false
end
local p = get_string(KEYS[2])
if not p then
  return false
end
if now - last >= tonumber(ARGV[3]) then
  v = c .. '|' .. ARGV[1] .. '|' .. a .. string.sub(v, rest)
  redis.call('SET', KEYS[1], v, 'PXAT', math.min(now + idle, absolute))
end
local counter = redis.call('GET', KEYS[3]) or '0'
return {v, p, counter}
