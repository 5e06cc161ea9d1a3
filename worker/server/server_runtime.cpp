#include "worker/server/server_runtime.hpp"

#include "common/config/outbound_config.hpp"
#include "common/config/server_name.hpp"
#include "common/log/log_config.hpp"
#include "common/log/logger.hpp"
#include "common/metrics/metrics.hpp"
#include "common/plugin/redis_service.hpp"
#include "common/plugin/send_email.hpp"
#include "common/plugin/server_hooks.hpp"
#include "common/tls/tls_context.hpp"
#include "common/util/paths.hpp"
#include "common/util/text.hpp"
#include "worker/http/health_routes.hpp"
#include "worker/outbound/tls_policy.hpp"
#include "worker/smtp/auth_failures.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace upesi::worker {
namespace {

// outbound.ini deliver_host_list_locally: host_list's domains go to the first listener of
// smtp.ini, on loopback when it listens on every address.
Result<std::monostate> addLocalDelivery(config::Config& config, const config::SmtpConfig& smtp,
                                        outbound::EngineSettings& settings) {
  if (!settings.config.deliver_host_list_locally) {
    return std::monostate{};
  }
  if (smtp.listen.empty()) {
    return Error{"outbound.ini deliver_host_list_locally: smtp.ini listen names no address"};
  }
  const auto& listener = smtp.listen.front();
  std::string host = listener.host;
  if (host == "0.0.0.0" || host == "::" || host == "::0") {
    host = "127.0.0.1"; // [::0] takes IPv4 too; 127.0.0.1 works where ::1 is missing
  }
  settings.local_next_hop.exchange = host;
  settings.local_next_hop.port = listener.port;
  auto domains = config.get("host_list", config::ConfigType::List);
  if (!domains) {
    return Error{domains.error()};
  }
  for (const auto& domain : *domains) {
    if (domain.is_string()) {
      settings.local_domains.push_back(text::toLower(domain.get<std::string>()));
    }
  }
  return std::monostate{};
}

} // namespace

Result<outbound::EngineSettings> outboundSettings(config::Config& config,
                                                  const std::filesystem::path& install_dir,
                                                  const config::SmtpConfig& smtp,
                                                  const std::string& me) {
  const std::filesystem::path state_dir =
      smtp.state_dir.empty() ? install_dir : std::filesystem::path(smtp.state_dir);
  auto outbound_config = config::readOutboundConfig(config, install_dir);
  if (!outbound_config) {
    return Error{outbound_config.error()};
  }
  outbound::EngineSettings settings;
  settings.config = *outbound_config;
  if (!settings.config.temp_fail_intervals.empty()) {
    auto schedule = outbound::RetrySchedule::parse(settings.config.temp_fail_intervals);
    if (!schedule) {
      return Error{fmt::format("outbound.ini temp_fail_intervals: {}", schedule.error())};
    }
    settings.retries = *schedule;
  } else {
    settings.retries =
        outbound::RetrySchedule::fromMaxTempFailures(settings.config.max_temp_failures);
  }
  settings.me = me;
  char host[256] = {};
  settings.hostname =
      ::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0' ? std::string(host) : me;
  // TLS for delivery: tls.ini [outbound] over [main], unless outbound.ini enable_tls=false.
  // [outbound.policy] holds even then: its destinations above `may` wait rather than get
  // their mail in clear.
  auto tls_config = tls::readTlsConfig(config);
  if (!tls_config) {
    return Error{tls_config.error()};
  }
  tls::ContextPtr client_context;
  std::vector<std::string> force_tls_hosts;
  std::vector<std::string> no_tls_hosts;
  bool fallback_to_plain = true;
  if (settings.config.enable_tls) {
    auto context = tls::makeClientContext(config, tls_config->outbound);
    if (!context) {
      return Error{context.error()};
    }
    client_context = std::move(*context);
    force_tls_hosts = tls_config->force_tls_hosts;
    no_tls_hosts = tls_config->outbound_no_tls_hosts;
    fallback_to_plain = tls_config->outbound_fallback_to_plain;
  }
  settings.tls =
      std::make_shared<outbound::TlsPolicy>(std::move(client_context), std::move(force_tls_hosts),
                                            std::move(no_tls_hosts), fallback_to_plain);
  settings.tls->setDestinationPolicy(std::move(tls_config->outbound_policy));
  settings.tls->setDane(tls_config->outbound_dane);
  settings.mta_sts = tls_config->outbound_mta_sts;
  settings.mta_sts_dir = state_dir / "mta-sts";
  if (tls_config->outbound_tls_rpt) {
    settings.tls_rpt_dir = state_dir / "tls-rpt";
    settings.tls_rpt_from = tls_config->outbound_tls_rpt_from.empty()
                                ? "noreply-tls-reports@" + me
                                : tls_config->outbound_tls_rpt_from;
  }
  if (auto lines = config.get("outbound.bounce_message", config::ConfigType::Data)) {
    for (const auto& line : *lines) {
      settings.bounce_template += line.get<std::string>() + "\n";
    }
  }
  if (auto local = addLocalDelivery(config, smtp, settings); !local) {
    return Error{local.error()};
  }
  return settings;
}

ServerRuntime::ServerRuntime() {
  uv_loop_init(&loop_);
}

Result<std::unique_ptr<ServerRuntime>>
ServerRuntime::create(const std::filesystem::path& install_dir) {
  std::unique_ptr<ServerRuntime> rt(new ServerRuntime());
  rt->config_ = std::make_unique<config::Config>(install_dir / "config", defaultsDir());
  rt->config_->setErrorCallback([](const std::string& e) { log::error({}, "{}", e); });
  auto& config = *rt->config_;
  if (auto logc = log::applyLogConfig(config); !logc) {
    return Error{logc.error()};
  }
  auto smtp = config::readSmtpConfig(config);
  if (!smtp) {
    return Error{smtp.error()};
  }
  rt->smtp_ = *smtp;
  // libuv sizes its pool from the environment once, at the first piece of work: nothing
  // before this point has queued any.
  ::setenv("UV_THREADPOOL_SIZE", std::to_string(smtp->thread_pool_size).c_str(), 1);

  auto dns_ini = config.getIni("dns.ini", config::ReadOptions{{"-main.validating"}});
  const auto& dns_main = dns_ini["main"];
  dns::ResolverOptions dns_options;
  if (dns_main.contains("servers") && dns_main["servers"].is_string()) {
    dns_options.servers = dns_main["servers"].get<std::string>();
  }
  dns_options.timeout_ms = dns_main.value("timeout_ms", dns_options.timeout_ms);
  dns_options.tries = dns_main.value("tries", dns_options.tries);
  dns_options.validating = dns_main.value("validating", false);
  dns_options.cache.max_entries = dns_main.value("cache_size", dns_options.cache.max_entries);
  dns_options.cache.max_ttl_s = dns_main.value("cache_max_ttl", dns_options.cache.max_ttl_s);
  dns_options.cache.max_negative_ttl_s =
      dns_main.value("cache_negative_ttl", dns_options.cache.max_negative_ttl_s);
  auto resolver = dns::Resolver::create(&rt->loop_, dns_options);
  if (!resolver) {
    return Error{resolver.error()};
  }
  rt->resolver_ = std::move(resolver).value();

  rt->services_.loop = &rt->loop_;
  rt->services_.resolver = rt->resolver_.get();
  rt->services_.me = config::serverName(config);
  auto plugins = plugin::PluginSet::load(config, install_dir, rt->services_);
  if (!plugins) {
    return Error{plugins.error()};
  }
  rt->plugins_ = std::move(plugins).value();
  rt->hooks_ = std::shared_ptr<const plugin::HookTable>(rt->plugins_, &rt->plugins_->hooks());

  auto settings = outboundSettings(config, install_dir, rt->smtp_, rt->services_.me);
  if (!settings) {
    return Error{settings.error()};
  }
  rt->outbound_ = std::make_unique<outbound::OutboundEngine>(&rt->loop_, rt->resolver_.get(),
                                                             rt->hooks_, std::move(*settings));
  auto* engine = rt->outbound_.get();
  rt->services_.outbound_stats = [engine] { return engine->stats(); };
  rt->services_.send_email = [engine](const Address& from, const std::vector<Address>& to,
                                      std::string message, nlohmann::json notes,
                                      plugin::ProcessServices::SendEmailDone done) {
    engine->submitMessage(from, to, std::move(message), std::move(notes), std::move(done));
  };
  auto* services = &rt->services_;
  outbound::PickupSettings pickup;
  pickup.dir = rt->smtp_.maildrop_dir.empty() ? install_dir / "maildrop"
                                              : std::filesystem::path(rt->smtp_.maildrop_dir);
  pickup.me = rt->services_.me;
  pickup.max_message_size = rt->smtp_.limits.max_message_size;
  rt->pickup_ = std::make_unique<outbound::MaildropPickup>(
      &rt->loop_, std::move(pickup),
      [services](const Address& from, const std::vector<Address>& to, std::string message,
                 const SendEmailOptions& options, plugin::ProcessServices::SendEmailDone done) {
        plugin::sendEmail(*services, from, to, std::move(message), std::move(done), options);
      });
  auto* cfg = rt->config_.get();
  for (const char* name :
       {"outbound.ini", "outbound.bounce_message", "queue_dir", "tls.ini", "host_list"}) {
    config.onChange(name,
                    [cfg, install_dir, smtp = &rt->smtp_, engine, services](const std::string&) {
                      if (auto fresh = outboundSettings(*cfg, install_dir, *smtp, services->me)) {
                        engine->updateSettings(std::move(*fresh));
                      } else {
                        log::error({}, "{} (keeping the running outbound settings)", fresh.error());
                      }
                    });
  }

  smtp::SessionEnvironment env;
  env.loop = &rt->loop_;
  env.outbound = rt->outbound_.get();
  env.resolver = rt->resolver_.get();
  env.hooks = rt->hooks_;
  env.limits = rt->smtp_.limits;
  env.texts = rt->smtp_.texts;
  env.me = rt->services_.me;
  env.spool_dir = rt->smtp_.limits.spool_dir.empty() ? (install_dir / "spool").string()
                                                     : rt->smtp_.limits.spool_dir;
  std::error_code ec;
  std::filesystem::create_directories(env.spool_dir, ec);
  if (ec) {
    return Error{fmt::format("spool directory {}: {}", env.spool_dir, ec.message())};
  }
  env.smtps_port = rt->smtp_.smtps_port;
  env.submission_ports = rt->smtp_.submission_ports;
  env.proxy_trust = rt->smtp_.proxy;
  if (!env.proxy_trust.hosts.empty()) {
    log::info({}, "PROXY headers expected from {} trusted network(s) (connection.ini [haproxy])",
              env.proxy_trust.hosts.size());
  }
  env.auth_failures = std::make_shared<smtp::AuthFailures>(
      rt->smtp_.limits.max_auth_failures_per_ip,
      std::chrono::seconds(rt->smtp_.limits.auth_failure_window_s));
  bool tls_listed = std::any_of(rt->plugins_->plugins().begin(), rt->plugins_->plugins().end(),
                                [](const plugin::LoadedPlugin& p) { return p.info.name == "tls"; });
  if (tls_listed) {
    auto tls = tls::loadInboundTls(config);
    if (!tls) {
      return Error{tls.error()};
    }
    env.tls = *tls;
    log::info({}, "TLS certificates loaded ({} more by SNI)", env.tls->sniNames().size());
  }
  auto http_config = config::readHttpConfig(config);
  if (!http_config) {
    return Error{http_config.error()};
  }
  rt->http_config_ = std::move(http_config).value();
  const bool https = rt->http_config_.tls ||
                     std::any_of(rt->http_config_.listen.begin(), rt->http_config_.listen.end(),
                                 [](const config::ListenAddress& a) { return a.port == 443; });
  if (https && !tls_listed) {
    auto tls = tls::loadInboundTls(config);
    if (!tls) {
      return Error{fmt::format("http.ini asks for HTTPS: {}", tls.error())};
    }
    rt->http_tls_ = *tls;
  }
  rt->server_ = std::make_unique<SmtpServer>(&rt->loop_, std::move(env));
  if (tls_listed) {
    rt->watchInboundTls();
  }
  rt->watcher_ = std::make_unique<ConfigWatcher>(&rt->loop_, config);
  return rt;
}

void ServerRuntime::watchInboundTls() {
  auto* server = server_.get();
  auto* config = config_.get();
  auto reload = [server, config](const std::string& name) {
    auto fresh = tls::loadInboundTls(*config);
    if (!fresh) {
      log::error({}, "{} changed, but TLS does not load: {} (keeping the running certificates)",
                 name, fresh.error());
      return;
    }
    log::notice({}, "{} changed: TLS certificates loaded again", name);
    server->environment().tls = *fresh;
  };
  // Reading the files through the config cache is what makes the watcher follow them.
  std::vector<std::string> names = server->environment().tls->files();
  names.push_back("tls.ini");
  for (const auto& name : names) {
    (void)config->get(name, config::ConfigType::Binary);
    config->onChange(name, reload);
  }
}

Result<std::monostate> ServerRuntime::startHttp(const std::vector<int>& fds) {
  if (fds.empty()) {
    return std::monostate{};
  }
  auto* smtp = server_.get();
  auto* self = this;
  http_ = std::make_unique<http::HttpServer>(&loop_, http_config_, [smtp, self] {
    return self->http_tls_ ? self->http_tls_ : smtp->environment().tls;
  });
  auto& router = http_->router();
  http::addHealthRoutes(router, {[smtp] { return smtp->accepting(); }, outbound_->queueDir()});
  if (http_config_.metrics && metrics::metrics().enabled()) {
    http::addMetricsRoute(router, *metrics::metrics().region());
  }
  http::addApiRoutes(router, apiServices());
  router.setOwner("a plugin");
  HookParams params;
  params.http = &router;
  if (auto r = runProcessHook(Hook::InitHttp, params); isDeny(r.code)) {
    return Error{
        fmt::format("init_http failed ({}): {}", r.plugin,
                    r.message.empty() ? std::string(toString(r.code)) : r.message.front())};
  }
  params = {};
  params.wss = &router;
  if (auto r = runProcessHook(Hook::InitWss, params); isDeny(r.code)) {
    return Error{
        fmt::format("init_wss failed ({}): {}", r.plugin,
                    r.message.empty() ? std::string(toString(r.code)) : r.message.front())};
  }
  for (int fd : fds) {
    if (auto r = http_->adopt(fd); !r) {
      return Error{r.error()};
    }
  }
  return std::monostate{};
}

http::ApiServices ServerRuntime::apiServices() {
  http::ApiServices api;
  api.loop = &loop_;
  api.token_set = !http_config_.token.empty();
  api.queue_dir = outbound_->queueDir();
  api.max_recipients = smtp_.limits.max_recipients;
  // The plugins' path into the queue (Host::sendEmail), so inject gets what they get.
  api.send_email = [this](const Address& from, const std::vector<Address>& to, std::string message,
                          nlohmann::json notes, plugin::ProcessServices::SendEmailDone done) {
    plugin::sendEmail(services_, from, to, std::move(message), std::move(done),
                      {.notes = std::move(notes)});
  };
  api.flush_all = [this] {
    if (flush_all_) {
      flush_all_();
    } else {
      outbound_->flush();
    }
  };
  return api;
}

plugin::HookResult ServerRuntime::runProcessHook(Hook hook, const HookParams& params) {
  return plugin::runServerHook(&loop_, *hooks_, hook, params);
}

plugin::HookResult ServerRuntime::runProcessHook(Hook hook) {
  return plugin::runServerHook(&loop_, *hooks_, hook);
}

void ServerRuntime::shutdownPlugins() {
  if (plugins_) {
    plugins_->shutdown();
  }
}

void ServerRuntime::startOutbound() {
  outbound_->start();
  pickup_->start();
}

void ServerRuntime::drain(std::chrono::seconds grace, std::function<void()> done) {
  // Deliveries in flight finish too: one cut between the next hop's 250 and the removal of its
  // queue file would be sent again by the next process or generation.
  outbound_->stop();
  pickup_->stop(); // what is left in the maildrop waits for the next generation
  deliveries_deadline_ms_ = uv_now(&loop_) + static_cast<std::uint64_t>(grace.count()) * 1000;
  drained_ = std::move(done);
  if (http_) {
    http_->drain({});
  }
  server_->drain(grace, [this] { awaitDeliveries(); });
}

void ServerRuntime::awaitDeliveries() {
  const std::size_t left = outbound_->inFlight();
  if (left == 0 || uv_now(&loop_) >= deliveries_deadline_ms_) {
    if (left != 0) {
      log::warn({}, "outbound: {} deliveries still in flight: stopping anyway", left);
    }
    if (delivery_wait_ready_) {
      uv_timer_stop(&delivery_wait_);
    }
    auto done = std::move(drained_);
    drained_ = nullptr;
    if (done) {
      done();
    }
    return;
  }
  if (!delivery_wait_ready_) {
    uv_timer_init(&loop_, &delivery_wait_);
    delivery_wait_.data = this;
    delivery_wait_ready_ = true;
    log::notice({}, "outbound: waiting for {} deliveries in flight", left);
  }
  // Polled: a stop is rare, and the engine has no "all deliveries done" callback.
  uv_timer_start(
      &delivery_wait_,
      [](uv_timer_t* t) { static_cast<ServerRuntime*>(t->data)->awaitDeliveries(); }, 50, 0);
}

ServerRuntime::~ServerRuntime() {
  pickup_.reset(); // before the engine it feeds, and while its handles can still close
  http_.reset();
  server_.reset();
  outbound_.reset(); // with its pool, which frees the connections still saying QUIT
  if (watcher_) {
    watcher_->close();
  }
  watcher_.reset();
  shutdownPlugins();
  hooks_.reset();
  plugins_.reset();
  if (services_.redis) {
    services_.redis->close(); // before the loop goes: what is pending is answered Closed
    services_.redis.reset();
  }
  resolver_.reset();
  // Let every close callback run, then the loop can go.
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (uv_is_closing(h) == 0) {
          uv_close(h, nullptr);
        }
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop_) != 0) {
    log::warn({}, "the loop still had handles at exit");
  }
}

} // namespace upesi::worker
