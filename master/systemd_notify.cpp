#include "master/systemd_notify.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace upesi::master {

void notifySystemd(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@')) {
    return;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::size_t len = std::strlen(path);
  if (len >= sizeof addr.sun_path) {
    return;
  }
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') {
    addr.sun_path[0] = '\0';
  }
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return;
  }
  auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  [[maybe_unused]] auto sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                                        reinterpret_cast<sockaddr*>(&addr), addr_len);
  ::close(fd);
}

void notifyReady(const std::string& status) {
  notifySystemd(fmt::format("READY=1\nSTATUS={}\nMAINPID={}", status, ::getpid()));
}

void notifyReloading() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  auto usec = static_cast<long long>(ts.tv_sec) * 1000000LL + ts.tv_nsec / 1000;
  notifySystemd(fmt::format("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading", usec));
}

void notifyStopping() {
  notifySystemd("STOPPING=1\nSTATUS=stopping");
}

} // namespace upesi::master
