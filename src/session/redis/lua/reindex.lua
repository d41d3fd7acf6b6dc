-- Puts a user back in the indexed layout: an index entry the profile holds moves to the
-- user's sorted set, which then lives as long as its latest entry is remembered (index.lua).
-- What `latchkey sessions reindex` runs for every profile that holds one, before a release
-- that reads only the sorted set may run.
-- KEYS[1] user's index  KEYS[2] profile  ARGV[1] how long past its time an entry is
-- remembered (ms)
-- Returns 1 when an entry moved, 0 when the profile held none (or is gone).
local _, moved = unfold(KEYS[1], KEYS[2])
settle(KEYS[1], KEYS[2], false, false, tonumber(ARGV[1]))
if moved then
  return 1
end
return 0
