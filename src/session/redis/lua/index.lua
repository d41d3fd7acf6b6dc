-- The user's index of sessions, shared by every script that reads or writes it: this text is
-- put before each of them when the scripts are built (src/session/redis/mod.rs), so the
-- encodings below are written once. Its functions are local to each script.
--
-- Scores (src/session/ended.rs): a positive score is a started session's absolute expiry; a
-- negative one, -(t * 8 + mark), a session that ended: t its absolute expiry for a timeout
-- (mark 0), the time a hand ended it otherwise. Each entry is remembered until a day
-- (`remembered`) past its time, for the 401's reason.
--
-- Where the entries are (docs/sessions.md, "Compact layout"): in the sorted set `index`, or,
-- for a user whose only entry it is under `redis.layout = "compact"`, at the head of the
-- profile string: '~' hash '~' score '~' then the packed profile (src/session/packed.rs). One
-- place at a time: a script that changes entries first *unfolds* an entry held by the profile
-- into the set, works on the set alone, then *settles* where the entries stay.

-- A score as Redis wants it: Lua's own number to string keeps 14 digits only.
local function score_text(score)
  return string.format('%.0f', score)
end

local function ended_score(at, mark)
  return score_text(-(at * 8 + mark))
end

-- The time an entry is remembered from: a started session's absolute expiry, or t above.
local function time_of(score)
  if score > 0 then
    return score
  end
  return math.floor(-score / 8)
end

-- Forgets the entries remembered long enough: those whose time is before `before`.
local function forget(index, before)
  redis.call('ZREMRANGEBYSCORE', index, '(0', score_text(before))
  redis.call('ZREMRANGEBYSCORE', index, string.format('(%.0f', -before * 8), '(0')
end

-- A profile string's entry, if it holds one: hash, score (a number), and the packed profile
-- after it; otherwise nil, nil and the value as it was.
local function split_profile(value)
  if type(value) ~= 'string' then
    return nil, nil, value
  end
  local h, score, rest = string.match(value, '^~([^~]+)~(%-?%d+)~(.*)$')
  if h then
    return h, tonumber(score), rest
  end
  return nil, nil, value
end

-- A profile string holding the entry `h`, `score` before the packed profile.
local function join_profile(h, score, packed)
  return '~' .. h .. '~' .. score_text(score) .. '~' .. packed
end

-- The profile's value: false when there is none, and a non-string (an error reply) for a
-- profile of the layout before packed strings (a hash), which holds no entry.
local function profile_value(profile)
  return redis.pcall('GET', profile)
end

-- Moves an entry held by the profile into the set. Returns the profile's value without it
-- (see profile_value), and whether there was one.
local function unfold(index, profile)
  local value = profile_value(profile)
  local h, score, rest = split_profile(value)
  if h then
    redis.call('ZADD', index, score_text(score), h)
    redis.call('SET', profile, rest, 'KEEPTTL')
  end
  return rest, h ~= nil
end

-- Makes `key` live at least until `at` (ms), keeping a later expiry or none. By Redis' own
-- clock, and not with PEXPIREAT's GT option, which needs Redis 7.0 (docs/deployment.md asks
-- for 6.2).
local function outlive(key, at)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local ttl = redis.call('PTTL', key)
  if ttl >= 0 and ttl < at - now then
    redis.call('PEXPIREAT', key, score_text(at))
  end
end

-- Where the entries stay once a script is done with them. With `compact` and a profile, a
-- single entry goes back into the profile (`packed`, the profile without an entry), which then
-- lives at least as long as the entry is remembered, and the set is deleted. Otherwise the set
-- lives as long as its latest entry is remembered: the latest time, started (the highest
-- score) or ended (the lowest). Returns the profile's new value when it took the entry.
local function settle(index, profile, packed, compact, remembered)
  local count = redis.call('ZCARD', index)
  if count == 0 then
    return nil
  end
  local first = redis.call('ZRANGE', index, 0, 0, 'WITHSCORES')
  if compact and count == 1 and type(packed) == 'string' then
    local value = join_profile(first[1], tonumber(first[2]), packed)
    redis.call('DEL', index)
    redis.call('SET', profile, value, 'KEEPTTL')
    outlive(profile, time_of(tonumber(first[2])) + remembered)
    return value
  end
  local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  local latest = math.max(time_of(tonumber(first[2])), time_of(tonumber(last[2])))
  redis.call('PEXPIREAT', index, score_text(latest + remembered))
  return nil
end
