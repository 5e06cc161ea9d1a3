#include "master/process_identity.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace upesi::master {
namespace {

constexpr std::string_view DeletedSuffix = " (deleted)";

std::string readLink(const std::string& path) {
  char buf[PATH_MAX] = {};
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::string readComm(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/comm", pid));
  std::string comm;
  std::getline(in, comm);
  return comm;
}

} // namespace

Result<std::monostate> checkIsUpesi(pid_t pid) {
  auto exe = fmt::format("/proc/{}/exe", pid);
  struct stat theirs {};
  struct stat ours {};
  if (::stat("/proc/self/exe", &ours) != 0) {
    return Error{fmt::format("/proc/self/exe: {}", std::strerror(errno))};
  }
  if (::stat(exe.c_str(), &theirs) != 0) {
    return Error{fmt::format("cannot tell whether pid {} is upesi ({}: {})", pid, exe,
                             std::strerror(errno))};
  }
  if (theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino) {
    return std::monostate{};
  }
  // An upgrade replaced the binary the running master was started from.
  std::string target = readLink(exe);
  if (target.ends_with(DeletedSuffix)) {
    target.resize(target.size() - DeletedSuffix.size());
    if (target == readLink("/proc/self/exe") || readComm(pid).starts_with("upesi")) {
      return std::monostate{};
    }
  }
  return Error{fmt::format("pid {} is not upesi (it runs {}): a stale pid file?", pid,
                           target.empty() ? std::string("?") : target)};
}

} // namespace upesi::master
