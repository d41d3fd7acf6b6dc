-- Lists a user's live sessions, and remembers as timed out the index entries whose session
-- is gone.
-- KEYS[1] user's index  KEYS[2] user's profile  ARGV[1] session key prefix (ends with the
-- user's hash tag)  ARGV[2] now
-- ARGV[3] the most entries to read: the newest started ones, so the work is bounded even for
-- an index written before the cap of sessions per user existed (create.lua trims such an
-- index at the user's next login)
-- ARGV[4] the mark of a timed-out session  ARGV[5] how long past its time an entry is
-- remembered (ms)  ARGV[6] '1' for the compact layout (index scores and layouts: index.lua)
-- Returns {hash, packed record} pairs (src/session/packed.rs).
-- Session keys are built from the index: they share the index's hash tag, so they are in
-- its slot. Only live entries (scored above now) are read; ended ones are not read at all.
local remembered = tonumber(ARGV[5])
local packed = unfold(KEYS[1], KEYS[2])
forget(KEYS[1], tonumber(ARGV[2]) - remembered)
local out = {}
local started = redis.call('ZRANGE', KEYS[1], '+inf', '(' .. ARGV[2], 'BYSCORE', 'REV',
  'LIMIT', 0, tonumber(ARGV[3]), 'WITHSCORES')
for i = 1, #started, 2 do
  local h = started[i]
  local key = ARGV[1] .. h
  local v = redis.pcall('GET', key)
  if type(v) == 'string' then
    table.insert(out, {h, v})
  elseif v then
    -- A session of the layout before packed strings (a hash), which no longer signs anyone
    -- in: deleted with its entry, so no session key is ever outside the index (revoke-all
    -- reaches every key through it).
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], h)
  else
    -- Timed out: remembered as such, with its absolute expiry, for its 401's reason.
    redis.call('ZADD', KEYS[1], ended_score(tonumber(started[i + 1]), tonumber(ARGV[4])), h)
  end
end
settle(KEYS[1], KEYS[2], packed, ARGV[6] == '1', remembered)
return out
