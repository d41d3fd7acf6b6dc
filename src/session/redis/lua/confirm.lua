-- Ends a hold taken by reserve.lua whose call succeeded, and counts the unit as used (even if
-- the hold had already ended: the call was made).
-- KEYS[1] counter  KEYS[2] holds  ARGV[1] hold id  ARGV[2] expiry of a new counter (ms)
-- Returns the counter's new value.
redis.call('ZREM', KEYS[2], ARGV[1])
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n
