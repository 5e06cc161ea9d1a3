// Facts about other processes, read from /proc.
#pragma once

#include <sys/types.h>

namespace upesi {

/// Whether `pid` names a process that can still run code: it exists (kill(pid, 0) succeeds or
/// is refused for want of permission) and is not a zombie. A zombie whose parent died stays
/// until init reaps it, and a container's init may never do that.
bool processRuns(pid_t pid);

} // namespace upesi
