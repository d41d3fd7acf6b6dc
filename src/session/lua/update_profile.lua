-- Replaces a user's cached profile only if it exists; its expiry is kept.
-- KEYS[1] profile  ARGV[1..6] name, email, image, plan, plan_until, has_subscription
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'n', ARGV[1], 'e', ARGV[2], 'i', ARGV[3], 'pl', ARGV[4], 'pu', ARGV[5], 'hs', ARGV[6])
return 1
