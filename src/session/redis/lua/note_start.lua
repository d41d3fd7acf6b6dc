-- After a session is created: its trace, and the traces of the sessions its creation evicted
-- (session/ended.rs). Every key carries the user's hash tag: one slot.
-- KEYS[1] the new session's trace  KEYS[2..] the evicted sessions' traces
-- ARGV[1] the new trace (its absolute expiry)  ARGV[2] when to forget it (Unix ms)
-- ARGV[3] the evicted sessions' mark  ARGV[4] when to forget them (Unix ms)
-- NX: a revocation that came between the creation and this call has written its ending,
-- which must stay.
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'NX')
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[3], 'PXAT', ARGV[4])
end
return 1
