#include "worker/outbound/plugin_delay.hpp"

#include <upesi/text.hpp>

#include <algorithm>
#include <charconv>

namespace upesi::outbound {

std::optional<std::uint64_t> parsePluginDelay(const std::vector<std::string>& message) {
  if (message.empty()) {
    return std::nullopt;
  }
  const std::string_view text = text::trim(message.front());
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint64_t seconds = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (error == std::errc::result_out_of_range) {
    return MaxPluginDelaySeconds;
  }
  if (error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return std::min(seconds, MaxPluginDelaySeconds);
}

} // namespace upesi::outbound
