-- Ends a hold taken by reserve.lua whose call failed: nothing is counted. A hold already
-- ended (confirmed, released or expired) is not there, and nothing happens.
-- KEYS[1] holds  ARGV[1] hold id
return redis.call('ZREM', KEYS[1], ARGV[1])
