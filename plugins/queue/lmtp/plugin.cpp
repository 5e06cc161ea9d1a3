// queue/lmtp: at queue time, delivers inbound mail over LMTP to a configured server (Dovecot,
// Cyrus, ...) and answers with its replies: OK only when every recipient took the message. The
// work is in plugins/support.
#include <upesi/plugin.hpp>

#include "plugins/support/forward_plugin.hpp"

#include <memory>

std::unique_ptr<upesi::Plugin> upesi_builtin_queue_lmtp() {
  using namespace upesi::plugins;
  return makeForwardPlugin(ForwardPluginSpec{
      .kind = ForwardKind{"lmtp.ini", true, "127.0.0.1", 24},
      .method = "queue_lmtp",
      .queue_outbound = false, // inbound only, as Haraka's: relayed mail goes to the outbound queue
  });
}
