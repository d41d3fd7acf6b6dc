-- Revokes sessions of one user, atomically with respect to session creation (both are
-- scripts on the same slot), so a revoke-all leaves no session that was created before it.
-- KEYS[1] user's index  ARGV[1] session key prefix  ARGV[2] mode: one | all | except
-- ARGV[3] the session hash to revoke (one) or to keep (except)
local mode = ARGV[2]
local n = 0
if mode == 'one' then
  n = redis.call('DEL', ARGV[1] .. ARGV[3])
  redis.call('ZREM', KEYS[1], ARGV[3])
  return n
end
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if mode == 'all' or h ~= ARGV[3] then
    n = n + redis.call('DEL', ARGV[1] .. h)
    redis.call('ZREM', KEYS[1], h)
  end
end
return n
