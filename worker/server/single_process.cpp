#include "worker/server/single_process.hpp"

#include "common/log/logger.hpp"
#include "common/queue/queue_writer.hpp"
#include "worker/server/server_runtime.hpp"

#include <csignal>
#include <unistd.h>

namespace upesi::worker {
namespace {

struct SignalContext {
  ServerRuntime* runtime = nullptr;
  bool stopping = false;
};

void onStop(uv_signal_t* handle, int signum) {
  auto* ctx = static_cast<SignalContext*>(handle->data);
  const char* name = signum == SIGINT ? "SIGINT" : "SIGTERM";
  uv_loop_t* loop = ctx->runtime->loop();
  if (ctx->stopping) {
    log::notice({}, "second {}: stopping now", name);
    uv_stop(loop);
    return;
  }
  ctx->stopping = true;
  auto& server = ctx->runtime->server();
  int grace = ctx->runtime->smtpConfig().force_shutdown_timeout_s;
  log::notice({}, "{}: stopping; {} sessions to finish (at most {} s)", name, server.sessionCount(),
              grace);
  ctx->runtime->drain(std::chrono::seconds(grace), [loop] { uv_stop(loop); });
}

} // namespace

int serveSingleProcess(const std::filesystem::path& install_dir,
                       const std::vector<int>& listen_fds) {
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGXFSZ, SIG_IGN); // past RLIMIT_FSIZE a write fails with EFBIG: a 451, not a crash
  auto created = ServerRuntime::create(install_dir);
  if (!created) {
    log::crit({}, "{}", created.error());
    return 1;
  }
  auto runtime = std::move(created).value();
  if (auto r = runtime->runProcessHook(Hook::InitMaster); isDeny(r.code)) {
    log::crit({"", r.plugin}, "init_master failed: {}",
              r.message.empty() ? std::string(toString(r.code)) : r.message.front());
    return 1;
  }
  if (auto removed =
          queue::deleteTempFiles(runtime->outbound().settings().config.queue_dir.string());
      removed) {
    for (const auto& name : *removed) {
      log::notice({}, "outbound: removed the half-written {}", name);
    }
  }
  runtime->startOutbound();
  for (int fd : listen_fds) {
    if (auto r = runtime->server().adopt(fd); !r) {
      log::crit({}, "{}", r.error());
      return 1;
    }
  }

  uv_loop_t* loop = runtime->loop();
  SignalContext ctx{runtime.get()};
  uv_signal_t sigterm;
  uv_signal_t sigint;
  uv_signal_t sigusr1;
  uv_signal_t sighup;
  uv_signal_t sigusr2;
  for (auto [handle, signum] : {std::pair{&sigterm, SIGTERM}, std::pair{&sigint, SIGINT}}) {
    uv_signal_init(loop, handle);
    handle->data = &ctx;
    uv_signal_start(handle, onStop, signum);
  }
  uv_signal_init(loop, &sigusr1);
  uv_signal_start(
      &sigusr1,
      [](uv_signal_t*, int) {
        log::Logger::instance().reopen();
        log::notice({}, "SIGUSR1: log file reopened");
      },
      SIGUSR1);
  uv_signal_init(loop, &sighup);
  sighup.data = runtime.get();
  uv_signal_start(
      &sighup,
      [](uv_signal_t* h, int) {
        log::notice({}, "SIGHUP: outbound queue flush");
        static_cast<ServerRuntime*>(h->data)->outbound().flush();
      },
      SIGHUP);
  // A reload starts a new generation of workers: there are none with nodes=0. Config files are
  // still watched and re-read; plugins need a restart.
  uv_signal_init(loop, &sigusr2);
  uv_signal_start(
      &sigusr2,
      [](uv_signal_t*, int) {
        log::warn({}, "SIGUSR2: a graceful reload needs nodes >= 1 in smtp.ini; config files are "
                      "re-read when they change, plugins need a restart");
      },
      SIGUSR2);
  log::notice({}, "Upesi ready: {} listener(s), pid {}", runtime->smtpConfig().listen.size(),
              ::getpid());

  uv_run(loop, UV_RUN_DEFAULT);

  for (auto* h : {&sigterm, &sigint, &sigusr1, &sighup, &sigusr2}) {
    uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
  }
  uv_run(loop, UV_RUN_NOWAIT); // close callbacks of the stack handles above
  runtime.reset();
  log::notice({}, "stopped");
  return 0;
}

} // namespace upesi::worker
