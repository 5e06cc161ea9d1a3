// process_title: shows live counters in ps, as Haraka's does:
// "upesi (worker) cn=120 cc=3 msgs=97 out=1/0/4 queue=5 delivered=90 deferred=6 bounced=2".
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/outbound.hpp>
#include <upesi/plugin.hpp>

#include "common/util/process_title.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>

namespace upesi::plugins::process_title {

/// How often the title is refreshed besides the events (Haraka: every second), so that the
/// outbound figures move while no client connects.
constexpr std::uint64_t RefreshMs = 1000;

/// The title for the counters kept in server notes and the outbound queue's figures.
std::string titleFor(const std::string& base, const nlohmann::json& notes,
                     const OutboundStats& out) {
  auto count = [&](const char* key) -> long long {
    return notes.contains(key) && notes[key].is_number_integer() ? notes[key].get<long long>() : 0;
  };
  // out= as Haraka's: deliveries in progress / waiting for a slot / in temp-fail state.
  return fmt::format("{} cn={} cc={} msgs={} out={}/{}/{} queue={} delivered={} deferred={} "
                     "bounced={}",
                     base, count("pt_connections"), count("pt_concurrent"), count("pt_messages"),
                     out.in_flight, out.waiting, out.deferred, out.queued, out.delivered,
                     out.deferrals, out.bounced);
}

class ProcessTitle final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    // One process runs everything (nodes=0): init_master starts it there.
    registrar.registerHook(Hook::InitMaster, [this](Next next, Connection&, const HookParams&) {
      start("upesi");
      next();
    });
    registrar.registerHook(Hook::InitChild, [this](Next next, Connection&, const HookParams&) {
      start("upesi (worker)");
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
    // The outbound outcomes show at once (first, so no plugin's answer hides them).
    for (Hook hook : {Hook::Delivered, Hook::Deferred, Hook::Bounce}) {
      registrar.registerHook(
          hook,
          [this](Next next, Connection&, const HookParams&) {
            next();
            update(); // after next(): the engine has counted it by the time the hook runs
          },
          MinHookPriority);
    }
  }

  void shutdown() override {
    if (timer_ != 0) {
      host_->clearTimeout(timer_);
      timer_ = 0;
    }
  }

private:
  void start(std::string base) {
    base_ = std::move(base);
    reset();
    update();
    if (host_->uvLoop() != nullptr) {
      schedule();
    }
  }

  void schedule() {
    timer_ = host_->setTimeout(RefreshMs, [this] {
      update();
      schedule();
    });
  }

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

  void update() { setProcessTitle(titleFor(base_, host_->serverNotes(), host_->outboundStats())); }

  Host* host_ = nullptr;
  std::string base_ = "upesi";
  std::uint64_t timer_ = 0;
};

} // namespace upesi::plugins::process_title

std::unique_ptr<upesi::Plugin> upesi_builtin_process_title() {
  return std::make_unique<upesi::plugins::process_title::ProcessTitle>();
}
