// PluginHost: the server's side of upesi::Host for one plugin instance. What the hosts of one
// process share (the loop, server notes, the server's name) lives in ProcessServices.
#pragma once

#include <upesi/host.hpp>

#include "common/config/config.hpp"
#include "common/plugin/redis_service.hpp"
#include "common/util/loop_timer.hpp"

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>

namespace upesi::dns {
class Resolver;
}

namespace upesi::plugin {

struct ProcessServices {
  uv_loop_t* loop = nullptr;         // null in the master and in CLI commands
  dns::Resolver* resolver = nullptr; // null where there is no loop
  std::string me;
  nlohmann::json server_notes = nlohmann::json::object();
  /// The outbound queue's figures (set where an outbound engine runs).
  std::function<OutboundStats()> outbound_stats;
  /// How queueing a new message came out: Ok and "Message Queued (uuid)" with the queue files
  /// written (one per destination domain), or Deny/DenySoft and the reason (no files).
  using SendEmailDone = std::function<void(Code code, const std::string& text,
                                           const std::vector<std::string>& files)>;
  /// Queues a message for outbound delivery (set where an outbound engine runs). `message` has
  /// CRLF line ends: callers go through sendEmail() (send_email.hpp).
  std::function<void(const Address& from, const std::vector<Address>& to, std::string message,
                     nlohmann::json notes, SendEmailDone done)>
      send_email;
  /// The Redis client, made on the first Host::redis() from redis.ini; null until then.
  std::shared_ptr<RedisService> redis;
  bool redis_failed = false; // redis.ini did not parse: said once, no client this generation
};

class PluginHost final : public Host {
public:
  PluginHost(std::string plugin_name, config::Config& config, std::filesystem::path install_dir,
             ProcessServices& services)
      : name_(std::move(plugin_name)), config_(config), install_dir_(std::move(install_dir)),
        services_(services) {}
  ~PluginHost() override;
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  const std::string& pluginName() const override { return name_; }
  nlohmann::json config(const std::string& name, std::string_view type,
                        const std::vector<std::string>& booleans) override;
  void inherits(const std::string& base) override { base_ = base; }
  void onConfigChange(const std::string& name, std::function<void()> callback) override;
  void log(LogLevel level, std::string_view message, const Connection* connection) override;
  const std::filesystem::path& installDir() const override { return install_dir_; }
  const std::string& me() const override { return services_.me; }
  nlohmann::json& serverNotes() override { return services_.server_notes; }
  std::uint64_t setTimeout(std::uint64_t ms, std::function<void()> fn) override;
  void clearTimeout(std::uint64_t id) override;
  void runInThreadPool(std::function<void()> work, std::function<void()> done) override;
  void dnsQuery(const std::string& name, DnsType type, DnsCallback callback) override;
  void dnsReverse(const std::string& ip, DnsCallback callback) override;
  using Host::sendEmail;
  void sendEmail(const Address& from, const std::vector<Address>& to, std::string contents,
                 std::function<void(bool queued, const std::string& text)> done,
                 const SendEmailOptions& options) override;
  void* uvLoop() override { return services_.loop; }
  OutboundStats outboundStats() override {
    return services_.outbound_stats ? services_.outbound_stats() : OutboundStats{};
  }
  Redis* redis() override;

private:
  std::vector<std::filesystem::path> configLayers(const std::string& name) const;

  std::string name_;
  std::string base_; // the plugin this one inherits from, or empty
  config::Config& config_;
  std::filesystem::path install_dir_;
  ProcessServices& services_;
  std::unique_ptr<PluginRedis> redis_; // this plugin's view of services_.redis
  std::map<std::uint64_t, std::unique_ptr<LoopTimer>> timers_; // setTimeout's, by id
  std::uint64_t next_timer_id_ = 1;
};

} // namespace upesi::plugin
