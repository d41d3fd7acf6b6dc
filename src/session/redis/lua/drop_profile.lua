-- Deletes a user's cached profile. An index entry it holds moves to the index first, so that
-- why the session ended (a disable ends every session, then drops the profile) is still
-- remembered for its 401 (index.lua).
-- KEYS[1] user's index  KEYS[2] profile  ARGV[1] how long past its time an entry is
-- remembered (ms)
unfold(KEYS[1], KEYS[2])
redis.call('DEL', KEYS[2])
settle(KEYS[1], KEYS[2], false, false, tonumber(ARGV[1]))
return 1
