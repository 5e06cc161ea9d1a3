// queue/discard: accept a message and keep nothing, when asked to (tests, benchmarks, traps).
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include <cstdlib>
#include <memory>

namespace upesi::plugins::queue_discard {
namespace {

bool truthy(const nlohmann::json& notes, const char* key) {
  auto it = notes.find(key);
  if (it == notes.end()) {
    return false;
  }
  if (it->is_boolean()) {
    return it->get<bool>();
  }
  if (it->is_number()) {
    return it->get<double>() != 0;
  }
  return it->is_string() && !it->get<std::string>().empty();
}

class Discard final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    auto hook = [this](Next next, Connection& c, const HookParams&) { onQueue(next, c); };
    registrar.registerHook(Hook::Queue, hook);
    registrar.registerHook(Hook::QueueOutbound, hook);
  }

private:
  void onQueue(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    bool wanted = std::getenv("YES_REALLY_DO_DISCARD") != nullptr ||
                  truthy(connection.notes(), "discard");
    if (txn != nullptr) {
      const auto& notes = txn->notes();
      wanted = wanted || truthy(notes, "discard");
      if (auto q = notes.find("queue"); q != notes.end() && q->is_object()) {
        wanted = wanted || q->value("wants", std::string()) == "discard";
      }
    }
    if (!wanted) {
      next();
      return;
    }
    host_->log(LogLevel::Info, "discarding the message", &connection);
    next(Code::Ok, txn != nullptr ? "Message Queued (" + txn->uuid() + ")" : "Message Queued");
  }

  Host* host_ = nullptr;
};

} // namespace
} // namespace upesi::plugins::queue_discard

std::unique_ptr<upesi::Plugin> upesi_builtin_queue_discard() {
  return std::make_unique<upesi::plugins::queue_discard::Discard>();
}
