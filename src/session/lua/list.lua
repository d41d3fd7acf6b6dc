-- Lists a user's live sessions and drops index entries whose session is gone.
-- KEYS[1] user's index  ARGV[1] session key prefix (ends with the user's hash tag)  ARGV[2] now
-- Session keys are built from the index: they share the index's hash tag, so they are in
-- its slot.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local out = {}
for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local s = redis.call('HMGET', ARGV[1] .. h, 'c', 's', 'a', 'ua', 'ip')
  if s[1] then
    table.insert(out, {h, s[1], s[2], s[3], s[4] or '', s[5] or ''})
  else
    redis.call('ZREM', KEYS[1], h)
  end
end
return out
