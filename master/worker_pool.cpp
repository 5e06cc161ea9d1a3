#include "master/worker_pool.hpp"

#include "common/log/logger.hpp"
#include "master/signals.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace upesi::master {

WorkerPool::WorkerPool(std::filesystem::path install_dir, std::vector<int> listen_fds,
                       std::vector<int> http_fds)
    : install_dir_(std::move(install_dir)), listen_fds_(std::move(listen_fds)),
      http_fds_(std::move(http_fds)) {}

WorkerPool::~WorkerPool() {
  for (auto& [pid, worker] : workers_) {
    if (worker.control_fd >= 0) {
      ::close(worker.control_fd);
    }
  }
}

pid_t WorkerPool::spawn(int id, int generation) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    log::error({}, "socketpair: {}", std::strerror(errno));
    return -1;
  }
  // Everything the child needs is computed before fork: after it, only exec-safe calls.
  char exe[PATH_MAX] = {};
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    log::error({}, "cannot find this program's path: {}", std::strerror(errno));
    ::close(pair[0]);
    ::close(pair[1]);
    return -1;
  }
  // The child's fds from 3 on: the SMTP listeners, the HTTP ones, the metrics region, the
  // control socket.
  int next_fd = 3;
  auto numbered = [&next_fd](std::size_t count) {
    std::string list;
    for (std::size_t i = 0; i < count; ++i) {
      list += (i == 0 ? "" : ",") + std::to_string(next_fd++);
    }
    return list;
  };
  std::string fds_list = numbered(listen_fds_.size());
  std::string http_list = numbered(http_fds_.size());
  std::optional<std::uint32_t> slot;
  if (metrics_) {
    slot = metrics_->acquireSlot();
    if (!slot) {
      log::warn({}, "worker {}: no metrics slot is free; its figures are not counted", id);
    }
  }
  std::string metrics_fd = slot ? numbered(1) : std::string();
  int control_target = next_fd;
  std::vector<std::string> env_strings = {"UPESI_LISTEN_FDS=" + fds_list,
                                          "UPESI_HTTP_FDS=" + http_list,
                                          "UPESI_METRICS_FD=" + metrics_fd,
                                          "UPESI_METRICS_SLOT=" +
                                              (slot ? std::to_string(*slot) : std::string()),
                                          "UPESI_CONTROL_FD=" + std::to_string(control_target),
                                          "UPESI_WORKER_ID=" + std::to_string(id),
                                          "UPESI_GENERATION=" + std::to_string(generation)};
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "UPESI_LISTEN_FDS=", 17) != 0 &&
        std::strncmp(*e, "UPESI_HTTP_FDS=", 15) != 0 &&
        std::strncmp(*e, "UPESI_METRICS_", 14) != 0 &&
        std::strncmp(*e, "UPESI_CONTROL_FD=", 17) != 0 &&
        std::strncmp(*e, "UPESI_WORKER_ID=", 16) != 0 &&
        std::strncmp(*e, "UPESI_GENERATION=", 17) != 0) {
      envp.push_back(*e);
    }
  }
  for (auto& s : env_strings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  std::string dir = install_dir_.string();
  std::vector<const char*> argv = {exe, "--worker", "-c", dir.c_str(), nullptr};
  std::vector<int> sources = listen_fds_;
  sources.insert(sources.end(), http_fds_.begin(), http_fds_.end());
  if (slot) {
    sources.push_back(metrics_->fd());
  }
  sources.push_back(pair[1]);

  pid_t pid = ::fork();
  if (pid < 0) {
    log::error({}, "fork: {}", std::strerror(errno));
    ::close(pair[0]);
    ::close(pair[1]);
    if (slot) {
      metrics_->releaseSlot(*slot);
    }
    return -1;
  }
  if (pid == 0) {
    resetSignalsForChild();
    ::prctl(PR_SET_PDEATHSIG, SIGTERM); // a worker never outlives its master
    // Move every fd out of the way first, so that placing them at 3.. cannot clobber one.
    std::vector<int> high;
    for (int fd : sources) {
      high.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 100));
    }
    for (std::size_t i = 0; i < high.size(); ++i) {
      ::dup2(high[i], 3 + static_cast<int>(i)); // dup2 clears close-on-exec on the target
    }
    ::execve(exe, const_cast<char* const*>(argv.data()), envp.data());
    _exit(127);
  }
  ::close(pair[1]);
  ::fcntl(pair[0], F_SETFL, ::fcntl(pair[0], F_GETFL) | O_NONBLOCK);
  WorkerInfo info;
  info.pid = pid;
  info.id = id;
  info.generation = generation;
  info.control_fd = pair[0];
  info.metrics_slot = slot ? static_cast<int>(*slot) : -1;
  info.started = std::chrono::steady_clock::now();
  workers_[pid] = info;
  log::info({}, "started worker {} (generation {}), pid {}", id, generation, pid);
  return pid;
}

void WorkerPool::send(pid_t pid, const nlohmann::json& message) {
  auto it = workers_.find(pid);
  if (it == workers_.end() || it->second.control_fd < 0) {
    return;
  }
  std::string line = message.dump() + "\n";
  // Small messages into a socketpair with room: a short write means the worker is wedged.
  ssize_t n = ::send(it->second.control_fd, line.data(), line.size(), MSG_NOSIGNAL);
  if (n != static_cast<ssize_t>(line.size())) {
    log::warn({}, "worker pid {} did not take a control message", pid);
  }
}

void WorkerPool::broadcast(int generation, const nlohmann::json& message) {
  for (auto& [pid, worker] : workers_) {
    if (generation < 0 || worker.generation == generation) {
      send(pid, message);
    }
  }
}

bool readWorkerInput(WorkerInfo& worker, std::vector<nlohmann::json>& messages) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(worker.control_fd, buf, sizeof buf);
    if (n > 0) {
      worker.input.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      return false;
    }
    if (errno == EINTR) {
      continue;
    }
    break; // EAGAIN: all read
  }
  std::size_t newline = 0;
  while ((newline = worker.input.find('\n')) != std::string::npos) {
    auto message = nlohmann::json::parse(worker.input.substr(0, newline), nullptr, false);
    worker.input.erase(0, newline + 1);
    if (!message.is_discarded()) {
      messages.push_back(std::move(message));
    }
  }
  return true;
}

WorkerInfo WorkerPool::remove(pid_t pid) {
  auto it = workers_.find(pid);
  if (it == workers_.end()) {
    return {};
  }
  WorkerInfo info = std::move(it->second);
  if (info.control_fd >= 0) {
    ::close(info.control_fd);
  }
  if (info.metrics_slot >= 0 && metrics_) {
    metrics_->releaseSlot(static_cast<std::uint32_t>(info.metrics_slot));
  }
  workers_.erase(it);
  return info;
}

std::size_t WorkerPool::count(int generation) const {
  std::size_t n = 0;
  for (const auto& [pid, w] : workers_) {
    n += w.generation == generation ? 1 : 0;
  }
  return n;
}

std::size_t WorkerPool::readyCount(int generation) const {
  std::size_t n = 0;
  for (const auto& [pid, w] : workers_) {
    n += (w.generation == generation && w.ready) ? 1 : 0;
  }
  return n;
}

} // namespace upesi::master
