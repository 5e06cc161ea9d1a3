#include "worker/server/single_process.hpp"

#include "common/config/config.hpp"
#include "common/config/config_watcher.hpp"
#include "common/config/smtp_config.hpp"
#include "common/dns/resolver.hpp"
#include "common/log/log_config.hpp"
#include "common/log/logger.hpp"
#include "common/plugin/plugin_set.hpp"
#include "common/util/paths.hpp"
#include "worker/hooks/server_hooks.hpp"
#include "worker/server/smtp_server.hpp"

#include <csignal>
#include <unistd.h>

namespace upesi::worker {
namespace {

std::string serverName(config::Config& config) {
  std::string me = config.getString("me");
  if (!me.empty()) {
    return me;
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') {
    return host;
  }
  return "localhost";
}

struct SignalState {
  SmtpServer* server = nullptr;
  uv_loop_t* loop = nullptr;
  int force_timeout_s = 30;
  bool stopping = false;
  uv_timer_t force_timer{};
};

void onStopSignal(uv_signal_t* handle, int signum) {
  auto* state = static_cast<SignalState*>(handle->data);
  if (state->stopping) {
    log::notice({}, "second {}: stopping now", signum == SIGINT ? "SIGINT" : "SIGTERM");
    uv_stop(state->loop);
    return;
  }
  state->stopping = true;
  log::notice({}, "{}: stopping; {} sessions to finish (at most {} s)",
              signum == SIGINT ? "SIGINT" : "SIGTERM", state->server->sessionCount(),
              state->force_timeout_s);
  state->server->stopAccepting();
  state->server->onIdle([state] { uv_stop(state->loop); });
  state->server->shutdownSessions();
  if (state->server->sessionCount() == 0) {
    uv_stop(state->loop);
    return;
  }
  uv_timer_start(
      &state->force_timer,
      [](uv_timer_t* t) {
        auto* s = static_cast<SignalState*>(t->data);
        log::warn({}, "{} sessions still open after {} s: closing them",
                  s->server->sessionCount(), s->force_timeout_s);
        uv_stop(s->loop);
      },
      static_cast<std::uint64_t>(state->force_timeout_s) * 1000, 0);
}

} // namespace

int serveSingleProcess(const std::filesystem::path& install_dir) {
  ::signal(SIGPIPE, SIG_IGN);
  config::Config config(install_dir / "config", defaultsDir());
  config.setErrorCallback([](const std::string& e) { log::error({}, "{}", e); });
  if (auto logc = log::applyLogConfig(config); !logc) {
    log::crit({}, "{}", logc.error());
    return 1;
  }
  auto smtp = config::readSmtpConfig(config);
  if (!smtp) {
    log::crit({}, "{}", smtp.error());
    return 1;
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  auto dns_ini = config.getIni("dns.ini");
  dns::ResolverOptions dns_options;
  const auto& dns_main = dns_ini["main"];
  if (dns_main.contains("servers") && dns_main["servers"].is_string()) {
    dns_options.servers = dns_main["servers"].get<std::string>();
  }
  dns_options.timeout_ms = dns_main.value("timeout_ms", dns_options.timeout_ms);
  dns_options.tries = dns_main.value("tries", dns_options.tries);
  auto resolver = dns::Resolver::create(&loop, dns_options);
  if (!resolver) {
    log::crit({}, "{}", resolver.error());
    return 1;
  }

  plugin::ProcessServices services;
  services.loop = &loop;
  services.resolver = resolver->get();
  services.me = serverName(config);

  auto loaded = plugin::PluginSet::load(config, install_dir, services);
  if (!loaded) {
    log::crit({}, "{}", loaded.error());
    return 1;
  }
  std::shared_ptr<plugin::PluginSet> plugins = std::move(loaded).value();
  std::shared_ptr<const plugin::HookTable> hooks(plugins, &plugins->hooks());

  if (auto r = runServerHook(&loop, *hooks, Hook::InitMaster); isDeny(r.code)) {
    log::crit({"", r.plugin}, "init_master failed: {}",
              r.message.empty() ? std::string(toString(r.code)) : r.message.front());
    return 1;
  }

  smtp::SessionEnvironment env;
  env.loop = &loop;
  env.resolver = resolver->get();
  env.hooks = hooks;
  env.limits = smtp->limits;
  env.me = services.me;
  env.spool_dir = smtp->limits.spool_dir.empty() ? (install_dir / "spool").string()
                                                 : smtp->limits.spool_dir;
  std::error_code ec;
  std::filesystem::create_directories(env.spool_dir, ec);
  if (ec) {
    log::crit({}, "spool directory {}: {}", env.spool_dir, ec.message());
    return 1;
  }

  int status = 0;
  {
    SmtpServer server(&loop, std::move(env));
    for (const auto& address : smtp->listen) {
      if (auto r = server.listen(address); !r) {
        log::crit({}, "{}", r.error());
        return 1;
      }
    }
    config::ConfigWatcher watcher(&loop, config);

    SignalState state;
    state.server = &server;
    state.loop = &loop;
    state.force_timeout_s = smtp->force_shutdown_timeout_s;
    uv_timer_init(&loop, &state.force_timer);
    state.force_timer.data = &state;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_signal_t sigusr1;
    uv_signal_t sighup;
    for (auto [handle, signum] : {std::pair{&sigterm, SIGTERM}, std::pair{&sigint, SIGINT}}) {
      uv_signal_init(&loop, handle);
      handle->data = &state;
      uv_signal_start(handle, onStopSignal, signum);
    }
    uv_signal_init(&loop, &sigusr1);
    uv_signal_start(
        &sigusr1,
        [](uv_signal_t*, int) {
          log::Logger::instance().reopen();
          log::notice({}, "SIGUSR1: log file reopened");
        },
        SIGUSR1);
    uv_signal_init(&loop, &sighup);
    uv_signal_start(
        &sighup, [](uv_signal_t*, int) { log::notice({}, "SIGHUP: outbound queue flush"); },
        SIGHUP);
    log::notice({}, "Upesi ready: {} listener(s), pid {}", smtp->listen.size(), ::getpid());

    uv_run(&loop, UV_RUN_DEFAULT);

    for (auto* h : {&sigterm, &sigint, &sigusr1, &sighup}) {
      uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
    }
    uv_run(&loop, UV_RUN_NOWAIT); // the close callbacks of these stack handles
    uv_close(reinterpret_cast<uv_handle_t*>(&state.force_timer), nullptr);
    watcher.close();
  }
  plugins->shutdown();
  hooks.reset();
  plugins.reset();
  resolver->reset();
  // Let every close callback run, then the loop can go.
  uv_walk(
      &loop,
      [](uv_handle_t* h, void*) {
        if (uv_is_closing(h) == 0) {
          uv_close(h, nullptr);
        }
      },
      nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    log::warn({}, "the loop still had handles at exit");
  }
  log::notice({}, "stopped");
  return status;
}

} // namespace upesi::worker
