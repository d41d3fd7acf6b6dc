-- Lists a user's live sessions and drops index entries whose session is gone.
-- KEYS[1] user's index  ARGV[1] session key prefix (ends with the user's hash tag)  ARGV[2] now
-- ARGV[3] the most entries to read: the newest, so the work is bounded even for an index
-- written before the cap of sessions per user existed (create.lua trims such an index at the
-- user's next login).
-- Returns {hash, packed record} pairs (src/session/packed.rs).
-- Session keys are built from the index: they share the index's hash tag, so they are in
-- its slot.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local out = {}
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], -tonumber(ARGV[3]), -1)) do
  local key = ARGV[1] .. h
  local v = redis.pcall('GET', key)
  if type(v) == 'string' then
    table.insert(out, {h, v})
  else
    -- Gone, or a session of the layout before packed strings (a hash), which no longer
    -- signs anyone in: deleted with its entry, so no session key is ever outside the index
    -- (revoke-all reaches every key through it).
    if v then
      redis.call('DEL', key)
    end
    redis.call('ZREM', KEYS[1], h)
  end
end
return out
