#include "master/listeners.hpp"

#include "common/config/http_config.hpp"
#include "common/log/logger.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace upesi::master {
namespace {

Result<int> bindOne(const config::ListenAddress& address) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = address.ipv6 ? AF_INET6 : AF_INET;
  if (address.ipv6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(address.port);
    ::inet_pton(AF_INET6, address.host.c_str(), &in6->sin6_addr);
    len = sizeof(sockaddr_in6);
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(address.port);
    ::inet_pton(AF_INET, address.host.c_str(), &in->sin_addr);
    len = sizeof(sockaddr_in);
  }
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return Error{fmt::format("{}: socket: {}", address.toString(), std::strerror(errno))};
  }
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (address.ipv6) {
    // [::0] also takes IPv4, as Haraka's default listener does.
    int v6only = 0;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 1024) != 0) {
    int err = errno;
    ::close(fd);
    return Error{fmt::format("cannot listen on {}: {}", address.toString(), std::strerror(err))};
  }
  return fd;
}

} // namespace

Result<std::vector<int>> bindListeners(const std::vector<config::ListenAddress>& addresses) {
  std::vector<int> fds;
  for (const auto& address : addresses) {
    auto fd = bindOne(address);
    if (!fd) {
      for (int open_fd : fds) {
        ::close(open_fd);
      }
      return Error{fd.error()};
    }
    fds.push_back(*fd);
  }
  return fds;
}

Result<ServerListeners> bindServerListeners(config::Config& config,
                                            const config::SmtpConfig& smtp) {
  auto http = config::readHttpConfig(config);
  if (!http) {
    return Error{http.error()};
  }
  auto smtp_fds = bindListeners(smtp.listen);
  if (!smtp_fds) {
    return Error{smtp_fds.error()};
  }
  auto http_fds = bindListeners(http->listen);
  if (!http_fds) {
    for (int fd : *smtp_fds) {
      ::close(fd);
    }
    return Error{fmt::format("http.ini: {}", http_fds.error())};
  }
  for (const auto& address : smtp.listen) {
    log::notice({}, "listening on {}", address.toString());
  }
  for (const auto& address : http->listen) {
    log::notice({}, "HTTP listening on {}", address.toString());
  }
  return ServerListeners{std::move(*smtp_fds), std::move(*http_fds), http->listen};
}

} // namespace upesi::master
