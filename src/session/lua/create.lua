-- Creates a session, its index entry and the user's profile, atomically.
-- Every key carries the user's hash tag, so this runs on Redis Cluster too.
-- KEYS[1] session  KEYS[2] user's index  KEYS[3] user's profile
-- ARGV[1] session hash (index member)  ARGV[2] now  ARGV[3] expires (idle)  ARGV[4] absolute
-- ARGV[5] user agent  ARGV[6] ip  ARGV[7] profile expiry
-- ARGV[8..13] profile: name, email, image, plan, plan_until ('' = none), has_subscription
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'c', ARGV[2], 's', ARGV[2], 'a', ARGV[4], 'ua', ARGV[5], 'ip', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])

-- The index scores each session by its absolute expiry: entries past it are pruned here,
-- and the index itself lives as long as its longest-lived entry.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], last[2])

redis.call('HSET', KEYS[3], 'n', ARGV[8], 'e', ARGV[9], 'i', ARGV[10], 'pl', ARGV[11], 'pu', ARGV[12], 'hs', ARGV[13])
local ttl = redis.call('PTTL', KEYS[3])
local wanted = tonumber(ARGV[7]) - tonumber(ARGV[2])
if ttl < wanted then
  redis.call('PEXPIREAT', KEYS[3], ARGV[7])
end
return 1
