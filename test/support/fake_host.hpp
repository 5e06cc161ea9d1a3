// A Host for plugin unit tests, over a temporary install directory (config/ inside it) read by
// the real config reader. Logs are kept in memory.
//
// Asynchronous work: without a loop, setTimeout only records the callback (runTimers() fires
// them, in order of due time) and runInThreadPool runs inline. With attachLoop(), both go
// through that libuv loop (uv_timer_t, uv_queue_work), so the asynchronous path of a plugin is
// exercised by uv_run.
#pragma once

#include <upesi/host.hpp>

#include "common/config/config.hpp"
#include "common/config/config_type.hpp"
#include "common/util/thread_pool.hpp"
#include "test/support/fake_dns.hpp"
#include "test/support/temp_dir.hpp"

#include <uv.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace upesi::test {

class FakeHost final : public Host {
public:
  explicit FakeHost(std::string plugin_name = "test")
      : name_(std::move(plugin_name)), config_(dir_.path() / "config", {}) {
    std::filesystem::create_directories(dir_.path() / "config");
  }
  ~FakeHost() override {
    for (auto& [id, timer] : uv_timers_) {
      closeTimer(timer);
    }
    if (loop_ != nullptr) {
      uv_run(loop_, UV_RUN_NOWAIT);
    }
  }
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  // --- test controls

  /// Writes config/<name>; call changed(name) afterwards to simulate the watcher.
  void writeConfig(const std::string& name, std::string_view content) {
    dir_.write("config/" + name, content);
  }
  /// As the config watcher does when a file changed: re-read it, then call the listeners.
  void changed(const std::string& name) { config_.fileChanged(name); }

  void attachLoop(uv_loop_t* loop) { loop_ = loop; }
  void setName(std::string plugin_name) { name_ = std::move(plugin_name); }

  /// Without a loop: the pending timers and their delays.
  std::vector<std::uint64_t> pendingDelays() const {
    std::vector<std::uint64_t> out;
    for (const auto& [id, t] : manual_timers_) {
      out.push_back(t.ms);
    }
    return out;
  }
  /// Without a loop: fires every pending timer (and those they add), shortest delay first.
  void runTimers() {
    while (!manual_timers_.empty()) {
      auto it =
          std::min_element(manual_timers_.begin(), manual_timers_.end(),
                           [](const auto& a, const auto& b) { return a.second.ms < b.second.ms; });
      auto fn = std::move(it->second.fn);
      manual_timers_.erase(it);
      fn();
    }
  }

  std::string inherited; ///< what the plugin passed to inherits()
  FakeDns dns;           ///< what dnsQuery answers (nothing set: an error)

  bool logged(std::string_view needle) const {
    return std::any_of(logs.begin(), logs.end(),
                       [&](const auto& l) { return l.second.find(needle) != std::string::npos; });
  }

  std::vector<std::pair<LogLevel, std::string>> logs;
  int pool_jobs = 0;

  // --- Host

  const std::string& pluginName() const override { return name_; }
  nlohmann::json config(const std::string& name, std::string_view type,
                        const std::vector<std::string>& booleans) override {
    auto parsed = config::configTypeFromString(type);
    if (!parsed) {
      return nullptr;
    }
    auto value = config_.get(name, *parsed, {booleans});
    if (!value) {
      logs.emplace_back(LogLevel::Error, value.error());
      return config::ConfigType::Ini == *parsed ? config_.getIni(name, {booleans}) : nullptr;
    }
    return *value;
  }
  void inherits(const std::string& base) override { inherited = base; }
  void onConfigChange(const std::string& name, std::function<void()> callback) override {
    config_.onChange(name, [cb = std::move(callback)](const std::string&) { cb(); });
  }
  void log(LogLevel level, std::string_view message, const Connection*) override {
    logs.emplace_back(level, std::string(message));
  }
  const std::filesystem::path& installDir() const override { return dir_.path(); }
  const std::string& me() const override { return me_; }
  nlohmann::json& serverNotes() override { return server_notes_; }

  std::uint64_t setTimeout(std::uint64_t ms, std::function<void()> fn) override {
    auto id = next_id_++;
    if (loop_ == nullptr) {
      manual_timers_[id] = ManualTimer{ms, std::move(fn)};
      return id;
    }
    auto* timer = new UvTimer{};
    timer->owner = this;
    timer->id = id;
    timer->fn = std::move(fn);
    timer->handle.data = timer;
    uv_timer_init(loop_, &timer->handle);
    uv_timer_start(
        &timer->handle,
        [](uv_timer_t* h) {
          auto* t = static_cast<UvTimer*>(h->data);
          auto callback = std::move(t->fn);
          t->owner->uv_timers_.erase(t->id);
          t->owner->closeTimer(t);
          callback();
        },
        ms, 0);
    uv_timers_[id] = timer;
    return id;
  }
  void clearTimeout(std::uint64_t id) override {
    manual_timers_.erase(id);
    if (auto it = uv_timers_.find(id); it != uv_timers_.end()) {
      closeTimer(it->second);
      uv_timers_.erase(it);
    }
  }
  void runInThreadPool(std::function<void()> work, std::function<void()> done) override {
    ++pool_jobs;
    upesi::runOnThreadPool(loop_, std::move(work), std::move(done));
  }
  void dnsQuery(const std::string& name, DnsType type, DnsCallback callback) override {
    dns.query(name, type, std::move(callback));
  }
  void dnsReverse(const std::string&, DnsCallback callback) override {
    callback(DnsResult{DnsStatus::Error, "no resolver in tests", {}});
  }
  using Host::sendEmail;
  void sendEmail(const Address& from, const std::vector<Address>& to, std::string contents,
                 std::function<void(bool, const std::string&)> done,
                 const SendEmailOptions& options) override {
    sent.push_back({from, to, std::move(contents), options.notes});
    done(true, "Message Queued (test)");
  }
  struct SentEmail {
    Address from;
    std::vector<Address> to;
    std::string contents;
    nlohmann::json notes;
  };
  std::vector<SentEmail> sent;

  void* uvLoop() override { return loop_; }

  OutboundStats outbound_stats;
  OutboundStats outboundStats() override { return outbound_stats; }

private:
  struct ManualTimer {
    std::uint64_t ms = 0;
    std::function<void()> fn;
  };
  struct UvTimer {
    uv_timer_t handle{};
    FakeHost* owner = nullptr;
    std::uint64_t id = 0;
    std::function<void()> fn;
  };
  void closeTimer(UvTimer* timer) {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer->handle),
             [](uv_handle_t* h) { delete static_cast<UvTimer*>(h->data); });
  }

  TempDir dir_;
  std::string name_;
  config::Config config_;
  std::string me_ = "mx.test";
  nlohmann::json server_notes_ = nlohmann::json::object();
  uv_loop_t* loop_ = nullptr;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, ManualTimer> manual_timers_;
  std::map<std::uint64_t, UvTimer*> uv_timers_;
};

} // namespace upesi::test
