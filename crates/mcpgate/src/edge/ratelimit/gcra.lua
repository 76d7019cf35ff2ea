-- One GCRA decision, atomically.
--
-- KEYS[1]  the bucket: holds the theoretical arrival time (TAT), in microseconds of Redis time
-- ARGV[1]  the emission interval T, in whole microseconds (at least 1)
-- ARGV[2]  the burst (at least 1)
--
-- A request is allowed when now >= TAT - T * (burst - 1); it then moves the TAT to
-- max(TAT, now) + T. The key expires when the bucket is full again (TAT <= now), so an idle
-- key costs nothing. Time is the Redis server's, so replicas with skewed clocks agree.
--
-- Returns {allowed (1|0), reset, retry_after}: microseconds until the bucket is full again and,
-- when refused, until the next request would be allowed.

if redis.replicate_commands then
  -- Redis before 5: replicate effects, so that reading TIME before a write is permitted.
  pcall(redis.replicate_commands)
end

local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end

local allow_at = tat - interval * (burst - 1)
if now < allow_at then
  return {0, tat - now, allow_at - now}
end

local next_tat = tat + interval
local ttl_ms = math.max(1, math.ceil((next_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', string.format('%.0f', ttl_ms))
return {1, next_tat - now, 0}
