-- Reserves one unit of a per-user counter (today's vision calls) if it stays within the limit.
-- Atomic, so concurrent requests can never take the counter past the limit.
-- KEYS[1] counter  ARGV[1] limit ('' for none)  ARGV[2] expiry of a new counter (ms)
-- Returns the new value, or -1 when the limit is reached (nothing is taken).
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if ARGV[1] ~= '' and n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return -1
end
return n
