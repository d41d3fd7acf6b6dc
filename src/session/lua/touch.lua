-- The authenticated hot path: one round trip reads the session, the user's profile and a
-- usage counter, and slides the idle expiry when last_seen is older than the refresh step.
-- KEYS[1] session  KEYS[2] user's profile  KEYS[3] counter
-- (a stale index entry left by an expired session is pruned by list.lua)
-- ARGV[1] now  ARGV[2] idle timeout  ARGV[3] refresh step  (milliseconds)
local s = redis.call('HMGET', KEYS[1], 'c', 's', 'a', 'ua', 'ip')
if not s[1] then
  return false
end
local now = tonumber(ARGV[1])
local idle = tonumber(ARGV[2])
local last = tonumber(s[2])
local absolute = tonumber(s[3])
-- Enforced here as well as by the key's TTL: the idle timeout may have been shortened by
-- configuration since the TTL was set.
if now >= absolute or now >= last + idle then
  redis.call('DEL', KEYS[1])
  return false
end
local p = redis.call('HMGET', KEYS[2], 'n', 'e', 'i', 'pl', 'pu', 'hs')
if not p[4] then
  return false
end
if now - last >= tonumber(ARGV[3]) then
  last = now
  redis.call('HSET', KEYS[1], 's', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], math.min(now + idle, absolute))
end
local counter = redis.call('GET', KEYS[3]) or '0'
return {s[1], tostring(last), s[3], s[4] or '', s[5] or '',
        p[1] or '', p[2] or '', p[3] or '', p[4], p[5] or '', p[6] or '0', counter}
