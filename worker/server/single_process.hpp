// Serving in one process (smtp.ini nodes=0): config, plugins, listeners and sessions on one
// libuv loop, stopped by SIGTERM/SIGINT.
#pragma once

#include <filesystem>

namespace upesi::worker {

/// Returns the process exit status.
int serveSingleProcess(const std::filesystem::path& install_dir);

} // namespace upesi::worker
