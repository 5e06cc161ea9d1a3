// The outcome of running one hook's chain: the code and message of the plugin that decided, or
// CONT with no plugin if none did.
#pragma once

#include <upesi/code.hpp>

#include <string>
#include <vector>

namespace upesi::plugin {

struct HookResult {
  Code code = Code::Cont;
  std::vector<std::string> message;
  std::string plugin; // empty when no plugin answered
};

} // namespace upesi::plugin
