#include "worker/server/worker_process.hpp"

#include "common/log/logger.hpp"
#include "common/metrics/metrics.hpp"
#include "common/queue/queue_writer.hpp"
#include "common/util/process_title.hpp"
#include "common/util/signal_meanings.hpp"
#include "worker/server/control_channel.hpp"
#include "worker/server/server_runtime.hpp"

#include <fmt/format.h>

#include <array>
#include <csignal>
#include <cstdlib>
#include <sstream>
#include <string_view>
#include <unistd.h>

namespace upesi::worker {
namespace {

int envInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : std::atoi(v);
}

std::vector<int> fdList(const char* text) {
  std::vector<int> fds;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    if (!item.empty()) {
      fds.push_back(std::atoi(item.c_str()));
    }
  }
  return fds;
}

struct WorkerState {
  ServerRuntime* runtime = nullptr;
  ControlChannel* control = nullptr;
  bool stopping = false;
  int id = 0;
};

void stopWorker(WorkerState& state, std::string_view why) {
  if (state.stopping) {
    return;
  }
  state.stopping = true;
  auto& server = state.runtime->server();
  int grace = state.runtime->smtpConfig().force_shutdown_timeout_s;
  log::notice({}, "worker {} stopping ({}): {} sessions to finish", state.id, why,
              server.sessionCount());
  uv_loop_t* loop = state.runtime->loop();
  state.runtime->drain(std::chrono::seconds(grace), [loop] { uv_stop(loop); });
}

// SIGTERM stops, SIGUSR1 reopens the log (the signals a worker acts on itself).
void onWorkerSignal(uv_signal_t* handle, int signum) {
  auto& state = *static_cast<WorkerState*>(handle->data);
  const SignalMeaning* meaning = signalMeaning(signum);
  if (meaning == nullptr) {
    return;
  }
  if (meaning->action == SignalAction::Stop) {
    stopWorker(state, meaning->name);
  } else if (meaning->action == SignalAction::ReopenLogs) {
    log::Logger::instance().reopen();
  }
}

} // namespace

bool workerArgsFromEnvironment(WorkerArgs& args) {
  const char* fds = std::getenv("UPESI_LISTEN_FDS");
  args.control_fd = envInt("UPESI_CONTROL_FD", -1);
  args.id = envInt("UPESI_WORKER_ID", 0);
  args.generation = envInt("UPESI_GENERATION", 0);
  if (fds == nullptr || args.control_fd < 0) {
    return false;
  }
  args.listen_fds = fdList(fds);
  const char* http = std::getenv("UPESI_HTTP_FDS");
  args.http_fds = fdList(http == nullptr ? "" : http);
  const char* metrics_fd = std::getenv("UPESI_METRICS_FD");
  const char* metrics_slot = std::getenv("UPESI_METRICS_SLOT");
  if (metrics_fd != nullptr && *metrics_fd != '\0' && metrics_slot != nullptr &&
      *metrics_slot != '\0') {
    args.metrics_fd = std::atoi(metrics_fd);
    args.metrics_slot = std::atoi(metrics_slot);
  }
  return !args.listen_fds.empty();
}

int serveWorker(const std::filesystem::path& install_dir, const WorkerArgs& args) {
  setProcessTitle(fmt::format("upesi: worker {} (generation {})", args.id, args.generation));
  ignoreBrokenPipeSignals();
  // The master decides for its workers (signal_meanings.hpp): these reach a worker as nothing.
  for (const auto& meaning : SignalMeanings) {
    if (meaning.in_worker == SignalMeaning::InWorker::Ignore) {
      ::signal(meaning.signal, SIG_IGN);
    }
  }

  if (args.metrics_fd >= 0) {
    // Installed before anything takes a handle: handles taken earlier count nothing.
    std::string error;
    if (auto region = metrics::MetricsRegion::attach(args.metrics_fd, error)) {
      metrics::installMetrics(
          metrics::Metrics(std::make_shared<metrics::MetricsRegion>(std::move(*region)),
                           static_cast<std::uint32_t>(args.metrics_slot)));
    } else {
      log::error({}, "worker {}: metrics are off: {}", args.id, error);
    }
    ::close(args.metrics_fd);
  }
  auto created = ServerRuntime::create(install_dir);
  if (!created) {
    log::crit({}, "worker {}: {}", args.id, created.error());
    return 1;
  }
  auto runtime = std::move(created).value();
  if (auto r = runtime->runProcessHook(Hook::InitChild); isDeny(r.code)) {
    log::crit({"", r.plugin}, "init_child failed: {}",
              r.message.empty() ? std::string(toString(r.code)) : r.message.front());
    return 1;
  }
  for (int fd : args.listen_fds) {
    if (auto r = runtime->server().adopt(fd); !r) {
      log::crit({}, "{}", r.error());
      return 1;
    }
  }
  if (auto r = runtime->startHttp(args.http_fds); !r) {
    log::crit({}, "worker {}: {}", args.id, r.error());
    return 1;
  }

  // A worker that died (and is replaced now) may have left files half written; those that the
  // other workers, or an older generation's during a reload, are writing stay.
  if (auto removed = queue::deleteTempFiles(runtime->outbound().queueDir().string()); removed) {
    for (const auto& name : *removed) {
      log::notice({}, "outbound: removed the half-written {}", name);
    }
  }
  runtime->startOutbound();
  WorkerState state{runtime.get(), nullptr, false, args.id};
  ControlChannel control(
      runtime->loop(), args.control_fd,
      [&state](const nlohmann::json& message) {
        std::string cmd = message.value("cmd", "");
        if (cmd == "stop") {
          stopWorker(state, "asked by the master");
        } else if (cmd == "flush") {
          log::info({}, "worker {}: flushing the outbound queue", state.id);
          state.runtime->outbound().flush();
        } else if (cmd == "reopen_logs") {
          log::Logger::instance().reopen();
        }
      },
      [&state] { stopWorker(state, "the master went away"); });
  state.control = &control;
  // The HTTP API's flush: this worker can flush only its own engine; the master has them all.
  runtime->setFlushAll([&control] { control.send({{"event", "flush"}}); });

  std::array<uv_signal_t, SignalMeanings.size()> handles{};
  std::size_t started = 0;
  for (const auto& meaning : SignalMeanings) {
    if (meaning.in_worker != SignalMeaning::InWorker::Act) {
      continue;
    }
    uv_signal_t& handle = handles[started++];
    uv_signal_init(runtime->loop(), &handle);
    handle.data = &state;
    uv_signal_start(&handle, onWorkerSignal, meaning.signal);
  }

  control.send({{"event", "ready"}, {"pid", ::getpid()}});
  log::info({}, "worker {} (generation {}) ready, pid {}", args.id, args.generation, ::getpid());
  uv_run(runtime->loop(), UV_RUN_DEFAULT);
  runtime->setFlushAll({}); // the control channel goes before the runtime

  for (std::size_t i = 0; i < started; ++i) {
    uv_close(reinterpret_cast<uv_handle_t*>(&handles[i]), nullptr);
  }
  uv_run(runtime->loop(), UV_RUN_NOWAIT);
  runtime->shutdownPlugins();
  log::info({}, "worker {} (generation {}) stopped", args.id, args.generation);
  return 0;
}

} // namespace upesi::worker
