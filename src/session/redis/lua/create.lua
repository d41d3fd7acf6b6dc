-- Creates a session, its index entry and the user's profile, atomically, and keeps the user
-- within the cap of sessions per user by ending the oldest.
-- Every key carries the user's hash tag, so this runs on Redis Cluster too.
-- KEYS[1] session  KEYS[2] user's index  KEYS[3] user's profile
-- ARGV[1] session hash (index member)  ARGV[2] now  ARGV[3] expires (idle)  ARGV[4] absolute
-- ARGV[5] session record, packed  ARGV[6] profile expiry  ARGV[7] profile, packed
-- ARGV[8] the most sessions the user may have  ARGV[9] session key prefix (ends with the
-- user's hash tag; session keys share the index's slot)
-- (formats in src/session/packed.rs)
-- Returns {0} when the session exists already, else {1, evicted hash, ...}.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0}
end
redis.call('SET', KEYS[1], ARGV[5], 'PXAT', ARGV[3])

-- The index scores each session by its absolute expiry: entries past it are pruned here,
-- and the index itself lives as long as its longest-lived entry.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])

-- The cap. The index holds at most `max` entries after every create, so this walk is
-- bounded by the cap, never by how many logins there ever were. Entries whose session
-- already ended (idle timeout) are dropped first and end nobody; if the user is still at the
-- cap, the oldest sessions (lowest absolute expiry, i.e. earliest login) are ended.
local max = tonumber(ARGV[8])
local result = {1}
if redis.call('ZCARD', KEYS[2]) >= max then
  for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('EXISTS', ARGV[9] .. h) == 0 then
      redis.call('ZREM', KEYS[2], h)
    end
  end
  local excess = redis.call('ZCARD', KEYS[2]) - max + 1
  if excess > 0 then
    for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
      redis.call('DEL', ARGV[9] .. h)
      redis.call('ZREM', KEYS[2], h)
      table.insert(result, h)
    end
  end
end

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
return result
