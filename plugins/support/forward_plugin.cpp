#include "plugins/support/forward_plugin.hpp"

#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>

#include "plugins/support/next_hop_forwarder.hpp"

#include <utility>
#include <vector>

namespace upesi::plugins {
namespace {

class ForwardPlugin final : public Plugin {
public:
  explicit ForwardPlugin(ForwardPluginSpec spec)
      : method_(std::move(spec.method)), queue_outbound_(spec.queue_outbound),
        forwarder_(std::move(spec.kind)) {}

  void registerHooks(Host& host, Registrar& registrar) override {
    forwarder_.load(host);
    host.onConfigChange(forwarder_.kind().config_file, [this, &host] { forwarder_.load(host); });
    registrar.registerHook(
        Hook::Queue,
        [this](Next next, Connection& c, const HookParams&) { forwarder_.forward(next, c, false); },
        0, method_);
    if (queue_outbound_) {
      registrar.registerHook(
          Hook::QueueOutbound,
          [this](Next next, Connection& c, const HookParams&) {
            forwarder_.forward(next, c, true);
          },
          0, method_);
    }
  }

  void shutdown() override { forwarder_.shutdown(); }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{forwarder_.kind().config_file, "ini", forwarder_.booleans()}};
  }

private:
  std::string method_;
  bool queue_outbound_;
  NextHopForwarder forwarder_;
};

} // namespace

std::unique_ptr<Plugin> makeForwardPlugin(ForwardPluginSpec spec) {
  return std::make_unique<ForwardPlugin>(std::move(spec));
}

} // namespace upesi::plugins
