-- Replaces a user's cached profile only if it exists; its expiry is kept.
-- KEYS[1] profile  ARGV[1] the profile, packed (src/session/packed.rs)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
return 1
