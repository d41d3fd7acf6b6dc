-- Gives back a unit reserved by reserve.lua whose work failed; never below zero.
-- KEYS[1] counter
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
