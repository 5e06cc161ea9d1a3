// The master (smtp.ini nodes >= 1): binds the listeners, drops privileges, runs init_master,
// starts `nodes` workers and supervises them; acts on the signals of signals.hpp. Plain POSIX:
// no libuv, no threads — one poll() loop.
#pragma once

#include <filesystem>

namespace upesi::master {

/// Returns the exit status.
int runMaster(const std::filesystem::path& install_dir);

} // namespace upesi::master
