-- Holds one unit of a per-user counter (today's vision calls) for a call in progress, if the
-- units used plus those already held stay within the limit. Atomic, so concurrent requests
-- can never take the counter past the limit.
--
-- The counter counts units used (confirm.lua adds them); the holds are a sorted set of hold
-- ids scored by when they end (Redis's clock, ms). Holds past their end are dropped here
-- first, so a unit whose call died unanswered (a crash, a shutdown cut short) comes back by
-- itself once its hold ends.
--
-- KEYS[1] counter  KEYS[2] holds
-- ARGV[1] limit ('' for none)  ARGV[2] hold id  ARGV[3] how long the hold lasts (ms)
-- Returns {outcome, used, held}: outcome 1 held, 0 used up (used >= limit), -1 busy (used
-- below the limit, but used + held reach it); held counts the holds before this one.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local held = redis.call('ZCARD', KEYS[2])
if ARGV[1] ~= '' then
  local limit = tonumber(ARGV[1])
  if used >= limit then
    return {0, used, held}
  end
  if used + held >= limit then
    return {-1, used, held}
  end
end
local ms = tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], now + ms, ARGV[2])
-- The set lives as long as its latest hold.
redis.call('PEXPIRE', KEYS[2], ms)
return {1, used, held}
