// queue/smtp_forward: at queue time, forwards the message to a configured next hop over SMTP
// and answers with that hop's reply, as Haraka's plugin does (no retry here: a failure is a
// 4xx to the client, who keeps the message). The work is in plugins/support.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "plugins/support/next_hop_forwarder.hpp"

#include <memory>
#include <vector>

namespace upesi::plugins::queue_smtp_forward {

class SmtpForward final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    forwarder_.load(host);
    host.onConfigChange(ConfigFile, [this, &host] { forwarder_.load(host); });
    registrar.registerHook(
        Hook::Queue,
        [this](Next next, Connection& c, const HookParams&) { forwarder_.forward(next, c, false); },
        0, "queue_forward");
    registrar.registerHook(
        Hook::QueueOutbound,
        [this](Next next, Connection& c, const HookParams&) { forwarder_.forward(next, c, true); },
        0, "queue_forward");
  }

  void shutdown() override { forwarder_.shutdown(); }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{ConfigFile, "ini", forwarder_.booleans()}};
  }

private:
  static constexpr const char* ConfigFile = "smtp_forward.ini";
  NextHopForwarder forwarder_{ForwardKind{ConfigFile, false, "", 25}};
};

} // namespace upesi::plugins::queue_smtp_forward

std::unique_ptr<upesi::Plugin> upesi_builtin_queue_smtp_forward() {
  return std::make_unique<upesi::plugins::queue_smtp_forward::SmtpForward>();
}
