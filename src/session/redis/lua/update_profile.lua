-- Replaces a user's cached profile only if it exists; its expiry is kept, and so is the index
-- entry it may hold (index.lua).
-- KEYS[1] profile  ARGV[1] the profile, packed (src/session/packed.rs)
local h, score = split_profile(profile_value(KEYS[1]))
if h then
  redis.call('SET', KEYS[1], join_profile(h, score, ARGV[1]), 'KEEPTTL')
  return 1
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
return 1
