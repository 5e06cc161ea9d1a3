// The one plugin behind queue/smtp_forward and queue/lmtp: each plugin.cpp names what sets it
// apart and registers the result as a built-in.
#pragma once

#include <upesi/plugin.hpp>

#include "plugins/support/forward_config.hpp"

#include <memory>
#include <string>

namespace upesi::plugins {

struct ForwardPluginSpec {
  ForwardKind kind;
  std::string method;          ///< the name its hooks are registered under: "queue_forward"
  bool queue_outbound = false; ///< also forwards relayed mail (the queue_outbound hook)
};

std::unique_ptr<Plugin> makeForwardPlugin(ForwardPluginSpec spec);

} // namespace upesi::plugins
