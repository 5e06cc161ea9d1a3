// What milter.ini says: the filters in the order they run, each with its socket, timeouts,
// default action, protocol version and macro lists ([main] gives the defaults every filter
// section may override). Reading is pure: JSON in, the filters and one line per problem out; a
// bad value keeps the default, a filter without a usable socket is left out.
#pragma once

#include "common/milter/protocol.hpp"
#include "plugins/milter/filter_socket.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <string>
#include <vector>

namespace upesi::plugins::milter {

enum class DefaultAction { Accept, Reject, Tempfail, Quarantine };

const char* actionName(DefaultAction action);

using MacroLists = std::array<std::vector<std::string>, upesi::milter::MacroStageCount>;

struct FilterConfig {
  std::string name; ///< its section
  FilterSocket socket;
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds command_timeout{30};
  std::chrono::seconds content_timeout{300};
  DefaultAction default_action = DefaultAction::Tempfail;
  int protocol = 6;
  MacroLists macros; ///< by MacroStage
};

struct MilterConfigReading {
  std::vector<FilterConfig> filters;
  std::vector<std::string> problems;
};

/// Postfix's default macro lists (milter_*_macros).
MacroLists defaultMacroLists();

MilterConfigReading readMilterConfig(const nlohmann::json& ini);

/// The keys a filter section (and [main], for the defaults) may hold.
const std::vector<std::string>& filterKeys();

} // namespace upesi::plugins::milter
