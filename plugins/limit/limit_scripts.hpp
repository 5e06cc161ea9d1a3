// The limit plugin's Redis scripts. Each check-and-update is one script, so it is atomic on the
// server: no INCR whose EXPIRE never came (a key without a TTL, Haraka#1757), no hash that only
// grows (limit#65). Time is the server's (TIME), so that nodes whose clocks differ agree.
#pragma once

namespace upesi::plugins::limit {

/// A sliding window of at most `limit` entries. KEYS[1] the window; ARGV[1] its length in ms,
/// ARGV[2] the limit, ARGV[3] a name for this event, unique. Returns {count, over}: count
/// includes this event; an event over the limit is not kept, so the window never holds more
/// than `limit` entries, and it expires with its last one.
inline constexpr const char* SlidingWindowScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  return {count + 1, 1}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {count + 1, 0}
)lua";

/// Connections of one client now, each an entry that expires unless renewed: a node killed
/// with -9 leaves nothing behind once its entries have run out. KEYS[1] the client's set;
/// ARGV[1] this connection, ARGV[2] how long its entry lives (ms). Adds or renews the entry,
/// returns how many live entries there are.
inline constexpr const char* ConcurrencyScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local life = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + life, ARGV[1])
redis.call('PEXPIRE', KEYS[1], life)
return redis.call('ZCARD', KEYS[1])
)lua";

} // namespace upesi::plugins::limit
