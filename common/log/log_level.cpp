#include "common/log/log_level.hpp"

#include <upesi/text.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace upesi::log {
namespace {
constexpr std::array<std::string_view, 10> Names = {"EMERG",  "ALERT", "CRIT",  "ERROR",    "WARN",
                                                    "NOTICE", "INFO",  "DEBUG", "PROTOCOL", "DATA"};
}

std::string_view toString(Level level) {
  return Names.at(static_cast<std::size_t>(level));
}

std::optional<Level> levelFromString(std::string_view text) {
  const std::string upper = text::toUpper(text);
  std::string_view name = upper;
  if (name.starts_with("LOG")) {
    name.remove_prefix(3);
  }
  if (name == "WARNING") {
    name = "WARN";
  }
  if (name.size() == 1 && name[0] >= '0' && name[0] <= '9') {
    return static_cast<Level>(name[0] - '0');
  }
  for (std::size_t i = 0; i < Names.size(); ++i) {
    if (Names[i] == name) {
      return static_cast<Level>(i);
    }
  }
  return std::nullopt;
}

} // namespace upesi::log
