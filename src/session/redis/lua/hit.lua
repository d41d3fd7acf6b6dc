-- Counts one request in a fixed window; the key expires with its window.
-- KEYS[1] window counter  ARGV[1] window length (ms)
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
