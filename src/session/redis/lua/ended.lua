-- What is remembered of a session whose credential found no live session, for its 401's
-- reason (src/session/ended.rs). All three keys carry the user's hash tag: one slot.
-- KEYS[1] user's index  KEYS[2] user's profile  KEYS[3] the session's trace key, as a previous
-- release wrote it  ARGV[1] session hash
-- Returns {its entry's score or false, trace or false}: the entry from the set, or from the
-- profile when the profile holds it (index.lua).
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then
  local h, held = split_profile(profile_value(KEYS[2]))
  if h == ARGV[1] then
    score = score_text(held)
  end
end
return {score, redis.call('GET', KEYS[3])}
