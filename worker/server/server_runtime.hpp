// ServerRuntime: everything a serving process owns — its loop, config (watched), resolver,
// plugin generation and SMTP server — created in order and torn down in reverse. Used by the
// single-process server and by each worker.
#pragma once

#include "common/config/config.hpp"
#include "common/config/http_config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/dns/resolver.hpp"
#include "common/plugin/hook_result.hpp"
#include "common/plugin/plugin_set.hpp"
#include "common/util/result.hpp"
#include "worker/http/api_routes.hpp"
#include "worker/http/http_server.hpp"
#include "worker/outbound/maildrop_pickup.hpp"
#include "worker/outbound/outbound_engine.hpp"
#include "worker/server/config_watcher.hpp"
#include "worker/server/smtp_server.hpp"

#include <uv.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

namespace upesi::worker {

/// The outbound engine's settings from outbound.ini and tls.ini, as a worker builds them at
/// start (upesi --check builds them too, so that their errors are found before a start).
/// `smtp` gives where mta-sts/ and tls-rpt/ go (state_dir, else the install directory) and the
/// listener host_list's mail goes to (outbound.ini deliver_host_list_locally).
Result<outbound::EngineSettings> outboundSettings(config::Config& config,
                                                  const std::filesystem::path& install_dir,
                                                  const config::SmtpConfig& smtp,
                                                  const std::string& me);

class ServerRuntime {
public:
  /// Reads the config (log, smtp.ini, dns.ini), starts the resolver, loads the plugins and
  /// prepares the SMTP server (not yet listening). Errors name file and line.
  static Result<std::unique_ptr<ServerRuntime>> create(const std::filesystem::path& install_dir);
  ~ServerRuntime();
  ServerRuntime(const ServerRuntime&) = delete;
  ServerRuntime& operator=(const ServerRuntime&) = delete;

  uv_loop_t* loop() { return &loop_; }
  SmtpServer& server() { return *server_; }
  const config::SmtpConfig& smtpConfig() const { return smtp_; }
  const plugin::HookTable& hooks() const { return *hooks_; }

  /// Runs a process-level hook (init_master, init_child) to its answer.
  plugin::HookResult runProcessHook(Hook hook);
  plugin::HookResult runProcessHook(Hook hook, const HookParams& params);

  /// Serves HTTP on `fds` (bound to http.ini's listen): the server's routes, then init_http
  /// and init_wss for the plugins'. Run after init_child (init_master with nodes=0).
  Result<std::monostate> startHttp(const std::vector<int>& fds);

  /// What the HTTP API's flush does: ask the master to have every worker flush (set by a
  /// worker once its control channel is up); unset, this process's engine flushes.
  void setFlushAll(std::function<void()> flush_all) { flush_all_ = std::move(flush_all); }

  /// Calls every plugin's shutdown() (once).
  void shutdownPlugins();

  /// The outbound queue and its deliveries (started by startOutbound()).
  outbound::OutboundEngine& outbound() { return *outbound_; }
  void startOutbound();

  /// Graceful stop: no new sessions or deliveries; `done` once the sessions have ended (as
  /// SmtpServer::drain says) and the deliveries in flight have finished, or `grace` seconds
  /// after the start for those.
  void drain(std::chrono::seconds grace, std::function<void()> done);

private:
  ServerRuntime();
  void watchInboundTls(); // certificates loaded again when a file changes
  void awaitDeliveries();
  http::ApiServices apiServices(); // for the HTTP API's routes

  uv_loop_t loop_{};
  std::unique_ptr<config::Config> config_;
  config::SmtpConfig smtp_;
  std::unique_ptr<dns::Resolver> resolver_;
  plugin::ProcessServices services_;
  std::shared_ptr<plugin::PluginSet> plugins_;
  std::shared_ptr<const plugin::HookTable> hooks_;
  std::unique_ptr<ConfigWatcher> watcher_;
  std::unique_ptr<outbound::OutboundEngine> outbound_;
  std::unique_ptr<outbound::MaildropPickup> pickup_; // sendmail's mail, into outbound_
  std::unique_ptr<SmtpServer> server_;
  config::HttpConfig http_config_;
  std::shared_ptr<const tls::ServerTls> http_tls_; // when HTTPS is on and the tls plugin is not
  std::unique_ptr<http::HttpServer> http_;
  uv_timer_t delivery_wait_{}; // drain(): polls the deliveries in flight (closed with the loop)
  bool delivery_wait_ready_ = false;
  std::uint64_t deliveries_deadline_ms_ = 0;
  std::function<void()> drained_;
  std::function<void()> flush_all_;
};

} // namespace upesi::worker
