// Serving in one process (smtp.ini nodes=0): config, plugins, listeners and sessions on one
// libuv loop, stopped by SIGTERM/SIGINT.
#pragma once

#include <filesystem>
#include <vector>

namespace upesi::worker {

/// Serves on `listen_fds` and `http_fds`, bound (by the caller, before it dropped privileges)
/// to smtp.ini's and http.ini's listen. Returns the process exit status.
int serveSingleProcess(const std::filesystem::path& install_dir, const std::vector<int>& listen_fds,
                       const std::vector<int>& http_fds);

} // namespace upesi::worker
