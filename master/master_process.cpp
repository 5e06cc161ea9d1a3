#include "master/master_process.hpp"

#include "common/config/config.hpp"
#include "common/config/haraka_aliases.hpp"
#include "common/config/http_config.hpp"
#include "common/config/outbound_config.hpp"
#include "common/config/smtp_config.hpp"
#include "common/log/log_config.hpp"
#include "common/log/logger.hpp"
#include "common/metrics/metrics.hpp"
#include "common/plugin/plugin_set.hpp"
#include "common/plugin/server_hooks.hpp"
#include "common/queue/queue_writer.hpp"
#include "common/util/paths.hpp"
#include "common/util/process_title.hpp"
#include "master/listeners.hpp"
#include "master/pid_file.hpp"
#include "master/privileges.hpp"
#include "master/signals.hpp"
#include "master/systemd_notify.hpp"
#include "master/worker_pool.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <map>
#include <optional>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace upesi::master {
namespace {

using Clock = std::chrono::steady_clock;

// A worker slot that dies this often within CrashWindow before it is ready is a crash loop
// (bad config, a plugin that fails at start): give up. One that dies while serving is restarted
// with back-off however often: a remote client that can crash a worker must not stop the server.
constexpr int CrashLimit = 5;
constexpr auto CrashWindow = std::chrono::seconds(60);
constexpr auto ReloadReadyTimeout = std::chrono::seconds(60);

class Master {
public:
  Master(std::filesystem::path install_dir, config::SmtpConfig smtp, ServerListeners listeners)
      : install_dir_(std::move(install_dir)), smtp_(std::move(smtp)),
        http_listen_(std::move(listeners.http_addresses)),
        pool_(install_dir_, std::move(listeners.smtp), std::move(listeners.http)) {}

  int run(int signal_fd);
  void setMetrics(std::shared_ptr<metrics::MetricsRegion> region) {
    pool_.setMetrics(std::move(region));
    restarts_ = metrics::metrics().counter(metrics::MetricId::WorkerRestarts);
    reloads_ = metrics::metrics().counter(metrics::MetricId::Reloads);
    config_errors_ = metrics::metrics().counter(metrics::MetricId::ConfigErrors);
  }

private:
  void startGeneration(int generation);
  void handleSignal(MasterAction action);
  void reap();
  void workerExited(pid_t pid, int status);
  void workerMessage(WorkerInfo& worker, const nlohmann::json& message);
  void startReload();
  void checkerFinished(int status);
  void reloadFailed(const std::string& why);
  void stop();
  void tick();
  int pollTimeoutMs() const;
  void updateTitle();

  std::filesystem::path install_dir_;
  config::SmtpConfig smtp_;
  std::vector<config::ListenAddress> http_listen_; // bound at start
  WorkerPool pool_;
  int generation_ = 0;     // the generation serving (or becoming ready to)
  int new_generation_ = 0; // during a reload: the one starting; 0 otherwise
  bool stopping_ = false;
  bool ready_notified_ = false;
  int exit_status_ = 0;
  Clock::time_point stop_deadline_{};
  Clock::time_point reload_deadline_{};

  // The config check of a reload runs as a child: `upesi --check`.
  pid_t checker_pid_ = -1;
  int checker_fd_ = -1;
  std::string checker_output_;

  struct Respawn {
    int id;
    Clock::time_point when;
  };
  std::vector<Respawn> respawns_;
  std::map<int, std::deque<Clock::time_point>> crashes_;          // per worker slot: back-off
  std::map<int, std::deque<Clock::time_point>> startup_failures_; // per worker slot: give up
  metrics::Counter restarts_;
  metrics::Counter reloads_;
  metrics::Counter config_errors_;
};

void Master::updateTitle() {
  // Short: the title has only the room of the original command line.
  setProcessTitle(fmt::format("upesi: master gen {}", generation_));
}

void Master::startGeneration(int generation) {
  for (int id = 1; id <= smtp_.nodes; ++id) {
    pool_.spawn(id, generation);
  }
}

int Master::run(int signal_fd) {
  generation_ = 1;
  startGeneration(generation_);
  updateTitle();
  for (;;) {
    std::vector<pollfd> fds;
    fds.push_back({signal_fd, POLLIN, 0});
    std::vector<pid_t> owners;
    for (auto& [pid, worker] : pool_.workers()) {
      if (worker.control_fd >= 0) {
        fds.push_back({worker.control_fd, POLLIN, 0});
        owners.push_back(pid);
      }
    }
    if (checker_fd_ >= 0) {
      fds.push_back({checker_fd_, POLLIN, 0});
    }
    int rc = ::poll(fds.data(), fds.size(), pollTimeoutMs());
    if (rc < 0 && errno != EINTR) {
      log::crit({}, "poll: {}", std::strerror(errno));
      return 1;
    }
    if (rc > 0 && (fds[0].revents & POLLIN) != 0) {
      while (auto action = nextSignalAction()) {
        handleSignal(*action);
      }
    }
    for (std::size_t i = 0; i < owners.size(); ++i) {
      if (fds[i + 1].revents == 0) {
        continue;
      }
      auto it = pool_.workers().find(owners[i]);
      if (it == pool_.workers().end()) {
        continue;
      }
      bool open = pool_.readFrom(
          it->second, [this](WorkerInfo& w, const nlohmann::json& m) { workerMessage(w, m); });
      if (!open && it->second.control_fd >= 0) {
        ::close(it->second.control_fd);
        it->second.control_fd = -1; // exited or exiting: SIGCHLD tells the rest
      }
    }
    if (checker_fd_ >= 0 && (fds.back().revents & (POLLIN | POLLHUP)) != 0) {
      char buf[4096];
      ssize_t n = ::read(checker_fd_, buf, sizeof buf);
      if (n > 0) {
        checker_output_.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0) {
        ::close(checker_fd_);
        checker_fd_ = -1;
      }
    }
    tick();
    if (stopping_ && pool_.workers().empty() && checker_pid_ < 0) {
      return exit_status_;
    }
  }
}

int Master::pollTimeoutMs() const {
  auto now = Clock::now();
  auto soonest = now + std::chrono::seconds(1);
  for (const auto& r : respawns_) {
    soonest = std::min(soonest, r.when);
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(soonest - now).count();
  return static_cast<int>(std::max<long long>(ms, 0));
}

void Master::tick() {
  auto now = Clock::now();
  if (!stopping_) {
    std::vector<Respawn> due;
    std::erase_if(respawns_, [&](const Respawn& r) {
      if (r.when <= now) {
        due.push_back(r);
        return true;
      }
      return false;
    });
    for (const auto& r : due) {
      pool_.spawn(r.id, generation_);
    }
    if (!due.empty()) {
      updateTitle();
    }
  }
  if (new_generation_ != 0 && now >= reload_deadline_) {
    reloadFailed(
        fmt::format("the new workers were not ready within {} s", ReloadReadyTimeout.count()));
  }
  if (stopping_ && now >= stop_deadline_) {
    for (auto& [pid, worker] : pool_.workers()) {
      log::warn({}, "worker pid {} still running after {} s: killing it", pid,
                smtp_.force_shutdown_timeout_s);
      ::kill(pid, SIGKILL);
    }
    stop_deadline_ = now + std::chrono::hours(1);
  }
}

void Master::handleSignal(MasterAction action) {
  switch (action) {
  case MasterAction::Reap:
    reap();
    break;
  case MasterAction::Flush:
    log::notice({}, "SIGHUP: every worker flushes its deferred outbound mail");
    pool_.broadcast(generation_, {{"cmd", "flush"}});
    break;
  case MasterAction::ReopenLogs:
    log::Logger::instance().reopen();
    pool_.broadcast(-1, {{"cmd", "reopen_logs"}});
    log::notice({}, "SIGUSR1: log files reopened");
    break;
  case MasterAction::Reload:
    startReload();
    break;
  case MasterAction::Stop:
    stop();
    break;
  }
}

void Master::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      return;
    }
    if (pid == checker_pid_) {
      checker_pid_ = -1;
      checkerFinished(status);
      continue;
    }
    workerExited(pid, status);
  }
}

void Master::workerExited(pid_t pid, int status) {
  WorkerInfo worker = pool_.remove(pid);
  if (worker.pid < 0) {
    return;
  }
  std::string how =
      WIFSIGNALED(status)
          ? fmt::format("killed by signal {} ({}){}", WTERMSIG(status),
                        ::strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "")
          : fmt::format("exit status {}", WEXITSTATUS(status));
  bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (worker.stopping || stopping_ || worker.generation != generation_) {
    if (worker.generation == new_generation_ && !worker.ready) {
      reloadFailed(fmt::format("new worker {} exited before it was ready ({})", worker.id, how));
    }
    log::info({}, "worker {} (generation {}, pid {}) ended: {}", worker.id, worker.generation, pid,
              how);
    updateTitle();
    return;
  }
  auto now = Clock::now();
  auto& history = crashes_[worker.id];
  history.push_back(now);
  while (!history.empty() && now - history.front() > CrashWindow) {
    history.pop_front();
  }
  (void)clean;
  if (worker.ready) {
    log::crit({}, "worker {} (pid {}) died while serving: {}; {} death(s) of this worker in {} s",
              worker.id, pid, how, history.size(), CrashWindow.count());
  } else {
    log::error({}, "worker {} (pid {}) died before it was ready: {}", worker.id, pid, how);
    auto& failures = startup_failures_[worker.id];
    failures.push_back(now);
    while (!failures.empty() && now - failures.front() > CrashWindow) {
      failures.pop_front();
    }
    if (static_cast<int>(failures.size()) >= CrashLimit) {
      log::crit({}, "worker {} failed to start {} times within {} s: giving up (crash loop)",
                worker.id, failures.size(), CrashWindow.count());
      exit_status_ = 1;
      stop();
      return;
    }
  }
  // Back-off: 0.1 s, then doubling per recent crash, at most 10 s.
  auto delay = std::chrono::milliseconds(
      std::min<long long>(10000, 100LL << std::min<std::size_t>(history.size() - 1, 7)));
  respawns_.push_back({worker.id, now + delay});
  restarts_.add();
  log::notice({}, "restarting worker {} in {} ms", worker.id, delay.count());
}

void Master::workerMessage(WorkerInfo& worker, const nlohmann::json& message) {
  const std::string event = message.value("event", "");
  if (event == "flush") {
    // The HTTP API's flush, answered by one worker: every worker flushes, as on SIGHUP.
    log::notice({}, "worker {} asks (HTTP API): every worker flushes its deferred outbound mail",
                worker.id);
    pool_.broadcast(generation_, {{"cmd", "flush"}});
    return;
  }
  if (event != "ready") {
    return;
  }
  worker.ready = true;
  if (worker.generation == new_generation_ &&
      pool_.readyCount(new_generation_) == static_cast<std::size_t>(smtp_.nodes)) {
    // The new generation serves: the old one finishes its sessions and goes.
    int old = generation_;
    generation_ = new_generation_;
    new_generation_ = 0;
    respawns_.clear();
    for (auto& [pid, w] : pool_.workers()) {
      if (w.generation == old) {
        w.stopping = true;
        pool_.send(pid, {{"cmd", "stop"}});
      }
    }
    log::notice({}, "reload done: generation {} serves, generation {} is finishing", generation_,
                old);
    notifyReady(fmt::format("serving, generation {}", generation_));
    updateTitle();
  } else if (worker.generation == generation_ && !ready_notified_ &&
             pool_.readyCount(generation_) == static_cast<std::size_t>(smtp_.nodes)) {
    ready_notified_ = true;
    log::notice({}, "Upesi ready: {} workers, pid {}", smtp_.nodes, ::getpid());
    notifyReady(fmt::format("serving, {} workers", smtp_.nodes));
  }
}

void Master::startReload() {
  if (stopping_) {
    return;
  }
  if (checker_pid_ >= 0 || new_generation_ != 0) {
    log::warn({}, "SIGUSR2: a reload is already under way");
    return;
  }
  log::notice({}, "SIGUSR2: reloading; checking the config first");
  reloads_.add();
  notifyReloading();
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    reloadFailed(fmt::format("pipe: {}", std::strerror(errno)));
    return;
  }
  char exe[PATH_MAX] = {};
  if (::readlink("/proc/self/exe", exe, sizeof exe - 1) <= 0) {
    ::close(out[0]);
    ::close(out[1]);
    reloadFailed("cannot find this program's path");
    return;
  }
  std::string dir = install_dir_.string();
  pid_t pid = ::fork();
  if (pid == 0) {
    resetSignalsForChild();
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    const char* argv[] = {exe, "-c", dir.c_str(), "--check", nullptr};
    ::execv(exe, const_cast<char* const*>(argv));
    _exit(127);
  }
  ::close(out[1]);
  if (pid < 0) {
    ::close(out[0]);
    reloadFailed(fmt::format("fork: {}", std::strerror(errno)));
    return;
  }
  checker_pid_ = pid;
  checker_fd_ = out[0];
  checker_output_.clear();
}

void Master::checkerFinished(int status) {
  if (checker_fd_ >= 0) {
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(checker_fd_, buf, sizeof buf)) > 0) {
      checker_output_.append(buf, static_cast<std::size_t>(n));
    }
    ::close(checker_fd_);
    checker_fd_ = -1;
  }
  if (stopping_) {
    return;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string errors = checker_output_;
    while (!errors.empty() && errors.back() == '\n') {
      errors.pop_back();
    }
    config_errors_.add();
    reloadFailed("the new config does not check out:\n" + errors);
    return;
  }
  config::Config config(install_dir_ / "config", defaultsDir());
  auto smtp = config::readSmtpConfig(config);
  if (!smtp) {
    reloadFailed(smtp.error());
    return;
  }
  if (smtp->listen.size() != smtp_.listen.size() ||
      !std::equal(smtp->listen.begin(), smtp->listen.end(), smtp_.listen.begin(),
                  [](const auto& a, const auto& b) { return a.toString() == b.toString(); })) {
    log::warn({}, "smtp.ini listen changed: listeners are bound at start, so a restart (not a "
                  "reload) applies that");
  }
  if (auto http = config::readHttpConfig(config); http && http->listen != http_listen_) {
    log::warn({}, "http.ini listen changed: listeners are bound at start, so a restart (not a "
                  "reload) applies that");
  }
  auto listen = smtp_.listen;
  smtp_ = *smtp;
  smtp_.listen = listen;
  if (auto logc = log::applyLogConfig(config); !logc) {
    log::error({}, "{}", logc.error());
  }
  // At start --check's run shows them; a reload has only the log.
  if (auto aliases = config::readHarakaAliases(config)) {
    for (const auto& n : aliases->notices) {
      log::notice({}, "{}", n);
    }
  }
  new_generation_ = generation_ + 1;
  reload_deadline_ = Clock::now() + ReloadReadyTimeout;
  log::notice({}, "config checked: starting generation {} ({} workers)", new_generation_,
              smtp_.nodes);
  startGeneration(new_generation_);
}

void Master::reloadFailed(const std::string& why) {
  log::error({}, "reload failed, generation {} keeps serving: {}", generation_, why);
  if (new_generation_ != 0) {
    for (auto& [pid, w] : pool_.workers()) {
      if (w.generation == new_generation_) {
        w.stopping = true;
        ::kill(pid, SIGTERM);
      }
    }
    new_generation_ = 0;
  }
  notifyReady(fmt::format("serving, generation {} (last reload failed)", generation_));
}

void Master::stop() {
  if (stopping_) {
    log::notice({}, "stop requested again: killing the workers now");
    for (auto& [pid, w] : pool_.workers()) {
      ::kill(pid, SIGKILL);
    }
    return;
  }
  stopping_ = true;
  notifyStopping();
  log::notice({}, "stopping: {} workers finish their sessions (at most {} s)",
              pool_.workers().size(), smtp_.force_shutdown_timeout_s);
  for (auto& [pid, w] : pool_.workers()) {
    w.stopping = true;
    pool_.send(pid, {{"cmd", "stop"}});
  }
  if (checker_pid_ >= 0) {
    ::kill(checker_pid_, SIGKILL);
  }
  respawns_.clear();
  stop_deadline_ = Clock::now() + std::chrono::seconds(smtp_.force_shutdown_timeout_s * 2 + 5);
}

} // namespace

int runMaster(const std::filesystem::path& install_dir) {
  setProcessTitle("upesi: master");
  int signal_fd = installSignalHandlers();
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
  auto listeners = bindServerListeners(config, *smtp);
  if (!listeners) {
    log::crit({}, "{}", listeners.error());
    return 1;
  }
  // Written while still root: the pid file may live in a directory only root can write.
  PidFile pid_file(pidFilePath(smtp->pid_file, install_dir));
  if (auto written = pid_file.write(); !written) {
    log::crit({}, "{}", written.error());
    return 1;
  }
  if (auto dropped = dropPrivileges(smtp->user, smtp->group); !dropped) {
    log::crit({}, "{}", dropped.error());
    return 1;
  }
  {
    // init_master runs here, before any worker exists, with no loop: plugins answer it inline.
    plugin::ProcessServices services;
    auto plugins = plugin::PluginSet::load(config, install_dir, services);
    if (!plugins) {
      log::crit({}, "{}", plugins.error());
      return 1;
    }
    auto result = plugin::runServerHook(nullptr, (*plugins)->hooks(), Hook::InitMaster);
    if (isDeny(result.code)) {
      log::crit({"", result.plugin}, "init_master failed: {}",
                result.message.empty() ? std::string(toString(result.code))
                                       : result.message.front());
      return 1;
    }
    (*plugins)->shutdown();
  }
  // Files a crash left half written are garbage; no worker runs yet, so none is being written.
  if (auto outbound = config::readOutboundConfig(config, install_dir); outbound) {
    if (auto removed = queue::deleteTempFiles(outbound->queue_dir.string()); removed) {
      for (const auto& name : *removed) {
        log::notice({}, "outbound: removed the half-written {}", name);
      }
    }
  } else {
    log::crit({}, "{}", outbound.error());
    return 1;
  }
  Master master(install_dir, *smtp, std::move(*listeners));
  // The figures /metrics shows, one slot per worker, kept here so that they outlive workers.
  if (auto http = config::readHttpConfig(config); http && !http->listen.empty() && http->metrics) {
    std::string error;
    metrics::MetricsRegion::Sizing sizing;
    sizing.slots = metrics::MetricsRegion::slotsForNodes(static_cast<std::uint32_t>(smtp->nodes));
    if (auto region = metrics::MetricsRegion::create(sizing, error)) {
      auto shared = std::make_shared<metrics::MetricsRegion>(std::move(*region));
      metrics::installMetrics(metrics::Metrics(shared, 0));
      master.setMetrics(std::move(shared));
    } else {
      log::error({}, "metrics are off: {}", error);
    }
  }
  int status = master.run(signal_fd);
  log::notice({}, "stopped");
  return status;
}

} // namespace upesi::master
