// A worker: started by the master (fork and exec of this binary with --worker), it inherits the
// listening sockets and a control socket, builds its own loop and plugins, runs init_child, and
// serves until the master says stop (or goes away).
#pragma once

#include <filesystem>
#include <vector>

namespace upesi::worker {

struct WorkerArgs {
  std::vector<int> listen_fds;
  std::vector<int> http_fds;
  int metrics_fd = -1; // the master's metrics region, and this worker's slot in it
  int metrics_slot = -1;
  int control_fd = -1;
  int id = 0;
  int generation = 0;
};

/// Reads UPESI_LISTEN_FDS, UPESI_HTTP_FDS, UPESI_CONTROL_FD, UPESI_WORKER_ID and UPESI_GENERATION.
bool workerArgsFromEnvironment(WorkerArgs& args);

/// Returns the exit status.
int serveWorker(const std::filesystem::path& install_dir, const WorkerArgs& args);

} // namespace upesi::worker
