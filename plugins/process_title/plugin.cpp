// process_title: shows live counters in ps: "upesi (worker) cn=120 cc=3 msgs=97".
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/util/process_title.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>

namespace upesi::plugins::process_title {

/// The title for the counters kept in server notes.
std::string titleFor(const std::string& base, const nlohmann::json& notes) {
  auto count = [&](const char* key) -> long long {
    return notes.contains(key) && notes[key].is_number_integer() ? notes[key].get<long long>() : 0;
  };
  return fmt::format("{} cn={} cc={} msgs={}", base, count("pt_connections"),
                     count("pt_concurrent"), count("pt_messages"));
}

class ProcessTitle final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    registrar.registerHook(Hook::InitChild, [this](Next next, Connection&, const HookParams&) {
      base_ = "upesi (worker)";
      reset();
      update();
      next();
    });
    // connect_init runs for every connection, whatever the other plugins answer.
    registrar.registerHook(Hook::ConnectInit, [this](Next next, Connection&, const HookParams&) {
      add("pt_connections", 1);
      add("pt_concurrent", 1);
      update();
      next();
    });
    registrar.registerHook(Hook::Disconnect, [this](Next next, Connection&, const HookParams&) {
      add("pt_concurrent", -1);
      update();
      next();
    });
    registrar.registerHook(Hook::QueueOk, [this](Next next, Connection&, const HookParams&) {
      add("pt_messages", 1);
      update();
      next();
    });
  }

private:
  void reset() {
    auto& notes = host_->serverNotes();
    notes["pt_connections"] = 0;
    notes["pt_concurrent"] = 0;
    notes["pt_messages"] = 0;
  }

  void add(const char* key, long long by) {
    auto& value = host_->serverNotes()[key];
    long long now = value.is_number_integer() ? value.get<long long>() : 0;
    value = std::max(0LL, now + by);
  }

  void update() { setProcessTitle(titleFor(base_, host_->serverNotes())); }

  Host* host_ = nullptr;
  std::string base_ = "upesi";
};

} // namespace upesi::plugins::process_title

std::unique_ptr<upesi::Plugin> upesi_builtin_process_title() {
  return std::make_unique<upesi::plugins::process_title::ProcessTitle>();
}
