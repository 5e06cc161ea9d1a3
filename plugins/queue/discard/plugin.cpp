// queue/discard: accepts and drops the message (a 250 with nothing stored) when a note or the
// environment asks for it. For tests and spamtraps.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "plugins/support/json_notes.hpp"

#include <cstdlib>
#include <memory>

namespace upesi::plugins::queue_discard {

class Discard final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    auto fn = [this](Next next, Connection& c, const HookParams&) { discard(next, c); };
    registrar.registerHook(Hook::Queue, fn, 0, "discard");
    registrar.registerHook(Hook::QueueOutbound, fn, 0, "discard");
  }

private:
  void discard(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr) {
      return next();
    }
    const auto& wants = member(member(txn->notes(), "queue"), "wants");
    // Another queue plugin was asked for: leave the message to it.
    if (truthy(wants) && wants != "discard") {
      return next();
    }
    const char* env = std::getenv("YES_REALLY_DO_DISCARD");
    const bool asked = truthy(member(connection.notes(), "discard")) ||
                       truthy(member(txn->notes(), "discard")) || wants == "discard" ||
                       (env != nullptr && *env != '\0');
    if (!asked) {
      return next();
    }
    host_->log(LogLevel::Info, "discarding message", &connection);
    txn->results().add(host_->pluginName(), {{"pass", "discarded"}});
    next(Code::Ok);
  }

  Host* host_ = nullptr;
};

} // namespace upesi::plugins::queue_discard

std::unique_ptr<upesi::Plugin> upesi_builtin_queue_discard() {
  return std::make_unique<upesi::plugins::queue_discard::Discard>();
}
