#include "worker/smtp/endpoint_info.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>

namespace upesi::smtp {
namespace {

Endpoint fromSockaddr(const sockaddr_storage& ss) {
  Endpoint e;
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    e.port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      ::inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    }
    e.port = ntohs(in6->sin6_port);
  }
  e.ip = text;
  classifyAddress(e);
  return e;
}

} // namespace

void classifyAddress(Endpoint& e) {
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, e.ip.c_str(), &v4) == 1) {
    std::uint32_t a = ntohl(v4.s_addr);
    e.is_local = (a >> 24) == 127;
    e.is_private = e.is_local || (a >> 24) == 10 || (a >> 20) == ((172U << 4) | 1U) ||
                   (a >> 16) == ((192U << 8) | 168U) || (a >> 16) == ((169U << 8) | 254U);
  } else if (::inet_pton(AF_INET6, e.ip.c_str(), &v6) == 1) {
    e.is_local = IN6_IS_ADDR_LOOPBACK(&v6);
    e.is_private = e.is_local || (v6.s6_addr[0] & 0xFEU) == 0xFCU || IN6_IS_ADDR_LINKLOCAL(&v6);
  }
}

Endpoint peerEndpoint(const uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return {};
  }
  return fromSockaddr(ss);
}

Endpoint localEndpoint(const uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return {};
  }
  return fromSockaddr(ss);
}

} // namespace upesi::smtp
