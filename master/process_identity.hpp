// Is a pid (read from a pid file) an Upesi master? A stale pid file may name a pid that the
// kernel has since given to another process: signalling that one would hit the wrong target.
#pragma once

#include "common/util/result.hpp"

#include <sys/types.h>
#include <variant>

namespace upesi::master {

/// Ok if `pid` runs this program (same executable, by device and inode; after an upgrade
/// replaced the file, the same path marked " (deleted)" or a process named "upesi...").
Result<std::monostate> checkIsUpesi(pid_t pid);

} // namespace upesi::master
