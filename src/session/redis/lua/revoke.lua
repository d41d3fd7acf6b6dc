-- Revokes sessions of one user, atomically with respect to session creation (both are
-- scripts on the same slot), so a revoke-all leaves no session that was created before it.
-- KEYS[1] user's index  KEYS[2] user's profile  ARGV[1] session key prefix
-- ARGV[2] mode: one | all | except
-- ARGV[3] the session hash to revoke (one) or to keep (except)
-- ARGV[4] the most index entries one call walks (all, except)
-- ARGV[5] the mark of why they ended (0: no reason given)  ARGV[6] the mark of a session that
-- had timed out  ARGV[7] now
-- ARGV[8] the previous release's trace key prefix (ends with the user's hash tag: the
-- index's slot). A hand's ending deletes the session's trace key, if that release left one:
-- it says only that the session started, and would make it read as timed out once the
-- ending is forgotten.
-- ARGV[9] how long past its time an entry is remembered (ms)  ARGV[10] '1' for the compact
-- layout (index scores and layouts: index.lua)
-- Each revoked session's entry stays in the index, marked with why and when, for its 401's
-- reason; an entry whose session had already timed out, or one revoked without a reason, is
-- marked timed out, with its absolute expiry.
-- Returns {revoked, 1 if entries are left to walk else 0}. Only started entries (positive
-- scores) are walked, and each leaves them: the cap of sessions per user keeps them within one
-- call's walk (with those past their absolute expiry that no walk met yet); an index written
-- before the cap existed takes several calls, each bounded, which the caller repeats until
-- nothing is left. A session created between two calls is a newer entry, reached by a later
-- call.
local function ended(h, score, gone)
  local at, mark = score, tonumber(ARGV[6])
  if gone == 1 and tonumber(ARGV[5]) ~= 0 then
    at, mark = tonumber(ARGV[7]), tonumber(ARGV[5])
    redis.call('DEL', ARGV[8] .. h)
  end
  redis.call('ZADD', KEYS[1], ended_score(at, mark), h)
end
local remembered = tonumber(ARGV[9])
local compact = ARGV[10] == '1'
local packed = unfold(KEYS[1], KEYS[2])
local mode = ARGV[2]
local n = 0
if mode == 'one' then
  n = redis.call('DEL', ARGV[1] .. ARGV[3])
  local score = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[3]))
  if score and score > 0 then
    ended(ARGV[3], score, n)
  end
  settle(KEYS[1], KEYS[2], packed, compact, remembered)
  return {n, 0}
end
local batch = tonumber(ARGV[4])
local started = redis.call('ZRANGE', KEYS[1], '(0', '+inf', 'BYSCORE', 'LIMIT', 0, batch,
  'WITHSCORES')
for i = 1, #started, 2 do
  local h = started[i]
  if mode == 'all' or h ~= ARGV[3] then
    local gone = redis.call('DEL', ARGV[1] .. h)
    ended(h, tonumber(started[i + 1]), gone)
    n = n + gone
  end
end
local left = redis.call('ZCOUNT', KEYS[1], '(0', '+inf')
if mode == 'except' then
  local kept = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[3]))
  if kept and kept > 0 then
    left = left - 1
  end
end
settle(KEYS[1], KEYS[2], packed, compact, remembered)
if left > 0 then
  return {n, 1}
end
return {n, 0}
