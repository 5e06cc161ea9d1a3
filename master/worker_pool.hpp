// WorkerPool: the master's view of its workers — spawning them (fork, then exec of this binary
// with --worker), talking to them over a socketpair each, and knowing which generation each
// belongs to.
#pragma once

#include "common/metrics/metrics_region.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace upesi::master {

struct WorkerInfo {
  pid_t pid = -1;
  int id = 0;
  int generation = 0;
  int control_fd = -1;
  int metrics_slot = -1; // its slot in the metrics region; -1: none
  bool ready = false;
  bool stopping = false;
  std::chrono::steady_clock::time_point started;
  std::string input; // partial line from the worker
};

class WorkerPool {
public:
  /// `listen_fds` are SMTP listeners, `http_fds` HTTP ones (http.ini).
  WorkerPool(std::filesystem::path install_dir, std::vector<int> listen_fds,
             std::vector<int> http_fds);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Each worker gets a slot of `region` (passed down by fd) for its metrics.
  void setMetrics(std::shared_ptr<metrics::MetricsRegion> region) { metrics_ = std::move(region); }

  /// Forks and execs a worker; returns its pid or -1 (logged).
  pid_t spawn(int id, int generation);

  /// Sends one JSON message to one worker, or to every worker of a generation (-1: all).
  void send(pid_t pid, const nlohmann::json& message);
  void broadcast(int generation, const nlohmann::json& message);

  /// Reads what a worker wrote; calls `on_message(worker, message)` per complete line.
  /// Returns false at end of file.
  template <typename Fn> bool readFrom(WorkerInfo& worker, Fn&& on_message);

  /// Forgets a worker that exited (its metrics join the retired totals); returns its record.
  WorkerInfo remove(pid_t pid);

  std::map<pid_t, WorkerInfo>& workers() { return workers_; }
  std::size_t count(int generation) const;
  std::size_t readyCount(int generation) const;

private:
  std::filesystem::path install_dir_;
  std::vector<int> listen_fds_;
  std::vector<int> http_fds_;
  std::shared_ptr<metrics::MetricsRegion> metrics_;
  std::map<pid_t, WorkerInfo> workers_;
};

bool readWorkerInput(WorkerInfo& worker, std::vector<nlohmann::json>& messages);

template <typename Fn> bool WorkerPool::readFrom(WorkerInfo& worker, Fn&& on_message) {
  std::vector<nlohmann::json> messages;
  bool open = readWorkerInput(worker, messages);
  for (const auto& m : messages) {
    on_message(worker, m);
  }
  return open;
}

} // namespace upesi::master
