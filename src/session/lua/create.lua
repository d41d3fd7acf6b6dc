-- Creates a session, its index entry and the user's profile, atomically.
-- Every key carries the user's hash tag, so this runs on Redis Cluster too.
-- KEYS[1] session  KEYS[2] user's index  KEYS[3] user's profile
-- ARGV[1] session hash (index member)  ARGV[2] now  ARGV[3] expires (idle)  ARGV[4] absolute
-- ARGV[5] session record, packed  ARGV[6] profile expiry  ARGV[7] profile, packed
-- (formats in src/session/packed.rs)
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[5], 'PXAT', ARGV[3])

-- The index scores each session by its absolute expiry: entries past it are pruned here,
-- and the index itself lives as long as its longest-lived entry.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], last[2])

-- The profile lives at least as long as this session can; a longer expiry (another
-- session's) is kept. SET replaces a profile of any type, the old hash layout included.
local ttl = redis.call('PTTL', KEYS[3])
local wanted = tonumber(ARGV[6]) - tonumber(ARGV[2])
if ttl < wanted then
  redis.call('SET', KEYS[3], ARGV[7], 'PXAT', ARGV[6])
else
  redis.call('SET', KEYS[3], ARGV[7], 'KEEPTTL')
end
return 1
