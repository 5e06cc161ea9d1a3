#include "worker/server/single_process.hpp"

#include "common/log/logger.hpp"
#include "common/queue/queue_writer.hpp"
#include "common/util/signal_meanings.hpp"
#include "worker/server/server_runtime.hpp"

#include <array>
#include <csignal>
#include <string_view>
#include <unistd.h>

namespace upesi::worker {
namespace {

struct SignalContext {
  ServerRuntime* runtime = nullptr;
  bool stopping = false;
};

void stop(SignalContext& ctx, std::string_view name) {
  uv_loop_t* loop = ctx.runtime->loop();
  if (ctx.stopping) {
    log::notice({}, "second {}: stopping now", name);
    uv_stop(loop);
    return;
  }
  ctx.stopping = true;
  auto& server = ctx.runtime->server();
  int grace = ctx.runtime->smtpConfig().force_shutdown_timeout_s;
  log::notice({}, "{}: stopping; {} sessions to finish (at most {} s)", name, server.sessionCount(),
              grace);
  ctx.runtime->drain(std::chrono::seconds(grace), [loop] { uv_stop(loop); });
}

void onSignal(uv_signal_t* handle, int signum) {
  auto& ctx = *static_cast<SignalContext*>(handle->data);
  const SignalMeaning* meaning = signalMeaning(signum);
  if (meaning == nullptr) {
    return;
  }
  switch (meaning->action) {
  case SignalAction::Stop:
    stop(ctx, meaning->name);
    return;
  case SignalAction::ReopenLogs:
    log::Logger::instance().reopen();
    log::notice({}, "{}: log file reopened", meaning->name);
    return;
  case SignalAction::Flush:
    log::notice({}, "{}: outbound queue flush", meaning->name);
    ctx.runtime->outbound().flush();
    return;
  case SignalAction::Reload:
    // A reload starts a new generation of workers: there are none with nodes=0. Config files
    // are still watched and re-read; plugins need a restart.
    log::warn({},
              "{}: a graceful reload needs nodes >= 1 in smtp.ini; config files are "
              "re-read when they change, plugins need a restart",
              meaning->name);
    return;
  case SignalAction::Reap:
    return;
  }
}

} // namespace

int serveSingleProcess(const std::filesystem::path& install_dir, const std::vector<int>& listen_fds,
                       const std::vector<int>& http_fds) {
  ignoreBrokenPipeSignals();
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
  if (auto removed = queue::deleteTempFiles(runtime->outbound().queueDir().string()); removed) {
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
  // The HTTP API's flush: there are no other workers to ask.
  runtime->setFlushAll([rt = runtime.get()] { rt->outbound().flush(); });
  if (auto r = runtime->startHttp(http_fds); !r) {
    log::crit({}, "{}", r.error());
    return 1;
  }

  uv_loop_t* loop = runtime->loop();
  SignalContext ctx{runtime.get()};
  // Every signal of the table but SIGCHLD (no children here), as the master would act on it.
  std::array<uv_signal_t, SignalMeanings.size()> handles{};
  std::size_t started = 0;
  for (const auto& meaning : SignalMeanings) {
    if (meaning.action == SignalAction::Reap) {
      continue;
    }
    uv_signal_t& handle = handles[started++];
    uv_signal_init(loop, &handle);
    handle.data = &ctx;
    uv_signal_start(&handle, onSignal, meaning.signal);
  }
  log::notice({}, "Upesi ready: {} listener(s), pid {}", runtime->smtpConfig().listen.size(),
              ::getpid());

  uv_run(loop, UV_RUN_DEFAULT);

  for (std::size_t i = 0; i < started; ++i) {
    uv_close(reinterpret_cast<uv_handle_t*>(&handles[i]), nullptr);
  }
  uv_run(loop, UV_RUN_NOWAIT); // close callbacks of the stack handles above
  runtime.reset();
  log::notice({}, "stopped");
  return 0;
}

} // namespace upesi::worker
