-- Creates a session, its index entry and the user's profile, atomically, and keeps the user
-- within the cap of live sessions per user by ending the oldest.
-- Every key carries the user's hash tag, so this runs on Redis Cluster too.
-- KEYS[1] session  KEYS[2] user's index  KEYS[3] user's profile
-- ARGV[1] session hash (index member)  ARGV[2] now  ARGV[3] expires (idle)  ARGV[4] absolute
-- ARGV[5] session record, packed  ARGV[6] profile expiry  ARGV[7] profile, packed
-- ARGV[8] the most sessions the user may have  ARGV[9] session key prefix (ends with the
-- user's hash tag; session keys share the index's slot)
-- ARGV[10] the mark of an evicted session  ARGV[11] the mark of a timed-out one
-- ARGV[12] how long past its time an entry is remembered (ms)
-- ARGV[13] the previous release's trace key prefix (ends with the user's hash tag): an
-- evicted session's trace key, if that release left one, is deleted (revoke.lua says why)
-- (formats in src/session/packed.rs; index scores in src/session/ended.rs: a positive score is
-- a started session's absolute expiry, a negative one -(t * 8 + mark) an ended session, t its
-- absolute expiry for a timeout (mark 0), the time a hand ended it otherwise. Each is
-- remembered until ARGV[12] past its time, for the 401's reason. Only entries scored above now
-- can be live sessions: the *live* ones below.)
-- Returns {0} when the session exists already, else {1, evicted hash, ...}.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0}
end
redis.call('SET', KEYS[1], ARGV[5], 'PXAT', ARGV[3])

local now = tonumber(ARGV[2])
local remembered = tonumber(ARGV[12])
-- Entries past their time by more than `remembered` are forgotten. string.format: Lua's own
-- number to string keeps 14 digits only.
local forget = now - remembered
redis.call('ZREMRANGEBYSCORE', KEYS[2], '(0', string.format('%.0f', forget))
redis.call('ZREMRANGEBYSCORE', KEYS[2], string.format('(%.0f', -forget * 8), '(0')
local live = '(' .. ARGV[2]

-- An entry of a session that ended, remembered by a negative score (its key is gone): at is
-- its absolute expiry for a timeout, now for an eviction.
local function ended(h, at, mark)
  redis.call('ZADD', KEYS[2], string.format('%.0f', -(at * 8 + mark)), h)
end

-- The cap counts the live entries only (scored above now), which are at most `max` after
-- every create, so this walk is bounded by the cap, never by how many logins there ever were.
-- Entries whose session already timed out are remembered as such first and end nobody; if
-- the user is still at the cap, the oldest sessions are ended: the earliest logins, by the
-- created time at the head of each record (src/session/packed.rs). Not by the score: a
-- session started under a longer absolute timeout than today's expires after newer ones.
-- A key of the layout before packed strings (a hash, no session) counts as the oldest.
local function created(v)
  if type(v) ~= 'string' then
    return 0
  end
  return tonumber(string.match(v, '^(%d+)|')) or 0
end
local max = tonumber(ARGV[8])
local result = {1}
if redis.call('ZCOUNT', KEYS[2], live, '+inf') >= max then
  local started = redis.call('ZRANGE', KEYS[2], live, '+inf', 'BYSCORE', 'WITHSCORES')
  local sessions = {}
  for i = 1, #started, 2 do
    local h, score = started[i], tonumber(started[i + 1])
    local v = redis.pcall('GET', ARGV[9] .. h)
    if v then
      table.insert(sessions, {created(v), score, h})
    else
      ended(h, score, tonumber(ARGV[11]))
    end
  end
  local excess = #sessions - max + 1
  if excess > 0 then
    -- Two logins in the same millisecond: the earlier absolute expiry, then the hash.
    table.sort(sessions, function(a, b)
      if a[1] ~= b[1] then
        return a[1] < b[1]
      end
      if a[2] ~= b[2] then
        return a[2] < b[2]
      end
      return a[3] < b[3]
    end)
    for i = 1, excess do
      local h = sessions[i][3]
      redis.call('DEL', ARGV[9] .. h, ARGV[13] .. h)
      ended(h, now, tonumber(ARGV[10]))
      table.insert(result, h)
    end
  end
end

redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
-- The index lives as long as its latest entry is remembered: the latest time, started (the
-- highest score) or ended (the lowest). A hand's ending is before its absolute expiry, so a
-- revocation never needs to extend it.
local function time_of(entry)
  local score = tonumber(entry[2])
  if score > 0 then
    return score
  end
  return math.floor(-score / 8)
end
local latest = math.max(time_of(redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')),
  time_of(redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')))
redis.call('PEXPIREAT', KEYS[2], string.format('%.0f', latest + remembered))

-- The profile lives at least as long as this session can; a longer expiry (another
-- session's) is kept. SET replaces a profile of any type, the old hash layout included.
local ttl = redis.call('PTTL', KEYS[3])
local wanted = tonumber(ARGV[6]) - now
if ttl < wanted then
  redis.call('SET', KEYS[3], ARGV[7], 'PXAT', ARGV[6])
else
  redis.call('SET', KEYS[3], ARGV[7], 'KEEPTTL')
end
return result
