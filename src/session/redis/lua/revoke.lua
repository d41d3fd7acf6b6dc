-- Revokes sessions of one user, atomically with respect to session creation (both are
-- scripts on the same slot), so a revoke-all leaves no session that was created before it.
-- KEYS[1] user's index  ARGV[1] session key prefix  ARGV[2] mode: one | all | except
-- ARGV[3] the session hash to revoke (one) or to keep (except)
-- ARGV[4] the most index entries one call walks (all, except)
-- ARGV[5] trace key prefix, ARGV[6] the ending's mark, ARGV[7] when to forget it (Unix ms):
-- optional; when given, each revoked session's trace says why it ended (session/ended.rs).
-- Trace keys share the index's hash tag, so they are in its slot.
-- Returns {revoked, 1 if entries are left to walk else 0}. The cap of sessions per user keeps
-- an index within one call's walk; an index written before the cap existed takes several
-- calls, each bounded, which the caller repeats until nothing is left. A session created
-- between two calls is a newer entry, reached by a later call.
local function ended(h)
  if ARGV[5] then
    redis.call('SET', ARGV[5] .. h, ARGV[6], 'PXAT', ARGV[7])
  end
end
local mode = ARGV[2]
local n = 0
if mode == 'one' then
  n = redis.call('DEL', ARGV[1] .. ARGV[3])
  redis.call('ZREM', KEYS[1], ARGV[3])
  if n == 1 then
    ended(ARGV[3])
  end
  return {n, 0}
end
local batch = tonumber(ARGV[4])
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, batch - 1)) do
  if mode == 'all' or h ~= ARGV[3] then
    local gone = redis.call('DEL', ARGV[1] .. h)
    if gone == 1 then
      ended(h)
    end
    n = n + gone
    redis.call('ZREM', KEYS[1], h)
  end
end
local left = redis.call('ZCARD', KEYS[1])
if mode == 'except' and redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  left = left - 1
end
if left > 0 then
  return {n, 1}
end
return {n, 0}
