// queue/lmtp: at queue time, delivers inbound mail over LMTP to a configured server (Dovecot,
// Cyrus, ...) and answers with its replies: OK only when every recipient took the message. The
// work is in plugins/support.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "plugins/support/next_hop_forwarder.hpp"

#include <memory>
#include <vector>

namespace upesi::plugins::queue_lmtp {

class Lmtp final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    forwarder_.load(host);
    host.onConfigChange(ConfigFile, [this, &host] { forwarder_.load(host); });
    // Inbound only, as Haraka's: relayed mail goes to the outbound queue.
    registrar.registerHook(
        Hook::Queue,
        [this](Next next, Connection& c, const HookParams&) { forwarder_.forward(next, c, false); },
        0, "queue_lmtp");
  }

  void shutdown() override { forwarder_.shutdown(); }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{ConfigFile, "ini", forwarder_.booleans()}};
  }

private:
  static constexpr const char* ConfigFile = "lmtp.ini";
  NextHopForwarder forwarder_{ForwardKind{ConfigFile, true, "127.0.0.1", 24}};
};

} // namespace upesi::plugins::queue_lmtp

std::unique_ptr<upesi::Plugin> upesi_builtin_queue_lmtp() {
  return std::make_unique<upesi::plugins::queue_lmtp::Lmtp>();
}
