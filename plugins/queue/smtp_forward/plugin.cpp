// queue/smtp_forward: at queue time, forwards the message to a configured next hop over SMTP
// and answers with that hop's reply, as Haraka's plugin does (no retry here: a failure is a
// 4xx to the client, who keeps the message). The work is in plugins/support.
#include <upesi/plugin.hpp>

#include "plugins/support/forward_plugin.hpp"

#include <memory>

std::unique_ptr<upesi::Plugin> upesi_builtin_queue_smtp_forward() {
  using namespace upesi::plugins;
  return makeForwardPlugin(ForwardPluginSpec{
      .kind = ForwardKind{"smtp_forward.ini", false, "", 25},
      .method = "queue_forward",
      .queue_outbound = true,
  });
}
