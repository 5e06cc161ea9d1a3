#include "common/util/process.hpp"

#include <cerrno>
#include <csignal>
#include <fstream>
#include <string>

namespace upesi {

namespace {

// The state letter of /proc/PID/stat ("pid (comm) S ..."); the command name may hold ") ",
// so the last one ends it. '\0' when the file cannot be read.
char processState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const auto end_of_name = stat.rfind(") ");
  if (end_of_name == std::string::npos || end_of_name + 2 >= stat.size()) {
    return '\0';
  }
  return stat[end_of_name + 2];
}

} // namespace

bool processRuns(pid_t pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) {
    return false;
  }
  const char state = processState(pid);
  // 'Z' zombie, 'X' dead; an unreadable stat (the process just went) counts as running, the
  // side that never removes a live writer's file.
  return state != 'Z' && state != 'X';
}

} // namespace upesi
