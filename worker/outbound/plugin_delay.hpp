// The delay a plugin gives in text: send_email's next(DELAY, seconds) and deferred's
// next(DENYSOFT, seconds). Plugins write it as they like ("300", " 300 ", "5m" by mistake), so
// it is read with checks: a number that is not all digits is refused (it would otherwise read
// as 0 and retry at once, or wrap around), and a very long delay is capped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace upesi::outbound {

/// Longer delays are cut to this: a week, longer than any retry schedule runs.
inline constexpr std::uint64_t MaxPluginDelaySeconds = 7 * 24 * 3600;

/// send_email's DELAY without a number of seconds holds the message this long.
inline constexpr std::uint64_t DefaultSendEmailDelaySeconds = 60;

/// Seconds from a hook's message (its first line), blanks around ignored. nullopt when there
/// is no message or it is not a whole number of seconds.
std::optional<std::uint64_t> parsePluginDelay(const std::vector<std::string>& message);

} // namespace upesi::outbound
