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
-- ARGV[14] '1' for the compact layout (index.lua)
-- (formats in src/session/packed.rs; index scores and layouts in index.lua. Only entries
-- scored above now can be live sessions: the *live* ones below.)
-- Returns {0} when the session exists already, else {1, evicted hash, ...}.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0}
end
redis.call('SET', KEYS[1], ARGV[5], 'PXAT', ARGV[3])

local now = tonumber(ARGV[2])
local remembered = tonumber(ARGV[12])
unfold(KEYS[2], KEYS[3])
forget(KEYS[2], now - remembered)
local live = '(' .. ARGV[2]

-- The cap counts the live entries only (scored above now), which are at most `max` after
-- every create, so this walk is bounded by the cap, never by how many logins there ever were.
-- Entries whose session already timed out are remembered as such first (at is their absolute
-- expiry) and end nobody; if the user is still at the cap, the oldest sessions are ended:
-- the earliest logins, by the created time at the head of each record
-- (src/session/packed.rs). Not by the score: a session started under a longer absolute
-- timeout than today's expires after newer ones.
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
      redis.call('ZADD', KEYS[2], ended_score(score, tonumber(ARGV[11])), h)
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
      redis.call('ZADD', KEYS[2], ended_score(now, tonumber(ARGV[10])), h)
      table.insert(result, h)
    end
  end
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])

-- The profile lives at least as long as this session can; a longer expiry (another
-- session's) is kept. SET replaces a profile of any type, the old hash layout included.
local ttl = redis.call('PTTL', KEYS[3])
local wanted = tonumber(ARGV[6]) - now
if ttl < wanted then
  redis.call('SET', KEYS[3], ARGV[7], 'PXAT', ARGV[6])
else
  redis.call('SET', KEYS[3], ARGV[7], 'KEEPTTL')
end
settle(KEYS[2], KEYS[3], ARGV[7], ARGV[14] == '1', remembered)
return result
