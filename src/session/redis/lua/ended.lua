-- What is remembered of a session whose credential found no live session, for its 401's
-- reason (src/session/ended.rs). Both keys carry the user's hash tag: one slot.
-- KEYS[1] user's index  KEYS[2] the session's trace key, as a previous release wrote it
-- ARGV[1] session hash
-- Returns {index score or false, trace or false}.
return {redis.call('ZSCORE', KEYS[1], ARGV[1]), redis.call('GET', KEYS[2])}
