#include "common/util/local_address.hpp"

#include <arpa/inet.h>
#include <array>
#include <cstdint>
#include <cstring>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <optional>
#include <string>

namespace upesi {
namespace {

struct Parsed {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{}; // IPv4 in the first 4
};

std::optional<Parsed> parse(std::string_view text) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  const std::string copy(text);
  Parsed p;
  if (::inet_pton(AF_INET, copy.c_str(), p.bytes.data()) == 1) {
    return p;
  }
  if (::inet_pton(AF_INET6, copy.c_str(), p.bytes.data()) == 1) {
    p.v6 = true;
    return p;
  }
  return std::nullopt;
}

std::uint32_t ipv4At(const std::uint8_t* b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

bool zeros(const std::uint8_t* b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (b[i] != 0) {
      return false;
    }
  }
  return true;
}

bool nonPublicIpv4(std::uint32_t a) {
  struct Network {
    std::uint32_t base;
    unsigned bits;
  };
  static constexpr Network networks[] = {
      {0x00000000, 8},  // 0/8 "this network": 0.0.0.0 reaches this host
      {0x0A000000, 8},  // 10/8
      {0x64400000, 10}, // 100.64/10 shared address space (carrier-grade NAT)
      {0x7F000000, 8},  // 127/8 loopback
      {0xA9FE0000, 16}, // 169.254/16 link-local
      {0xAC100000, 12}, // 172.16/12
      {0xC0000000, 24}, // 192.0.0/24 IETF protocol assignments
      {0xC0A80000, 16}, // 192.168/16
      {0xC6120000, 15}, // 198.18/15 benchmarking
      {0xE0000000, 4},  // 224/4 multicast
      {0xF0000000, 4},  // 240/4 reserved, and the broadcast address
  };
  for (const auto& n : networks) {
    if ((a >> (32 - n.bits)) == (n.base >> (32 - n.bits))) {
      return true;
    }
  }
  return false;
}

bool nonPublicIpv6(const std::uint8_t* b) {
  if (zeros(b, 12)) {
    return true; // ::/96: unspecified, loopback and the deprecated IPv4-compatible form
  }
  if (zeros(b, 10) && b[10] == 0xff && b[11] == 0xff) {
    return nonPublicIpv4(ipv4At(b + 12)); // IPv4-mapped
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    if (zeros(b + 4, 8)) {
      return nonPublicIpv4(ipv4At(b + 12)); // 64:ff9b::/96, NAT64
    }
    if (b[4] == 0x00 && b[5] == 0x01) {
      return true; // 64:ff9b:1::/48, NAT64 for local use
    }
  }
  if (b[0] == 0x20 && b[1] == 0x02) {
    return nonPublicIpv4(ipv4At(b + 2)); // 2002::/16, 6to4
  }
  if (b[0] == 0x01 && zeros(b + 1, 7)) {
    return true; // 100::/64 discard-only
  }
  return (b[0] & 0xfe) == 0xfc                   // fc00::/7 unique-local
         || (b[0] == 0xfe && (b[1] & 0x80) != 0) // fe80::/10 link-local, fec0::/10 site-local
         || b[0] == 0xff;                        // multicast
}

// An IPv4-mapped IPv6 address names the IPv4 one.
Parsed unmapped(Parsed p) {
  if (p.v6 && zeros(p.bytes.data(), 10) && p.bytes[10] == 0xff && p.bytes[11] == 0xff) {
    Parsed v4;
    std::memcpy(v4.bytes.data(), p.bytes.data() + 12, 4);
    return v4;
  }
  return p;
}

} // namespace

bool isNonPublicAddress(std::string_view ip) {
  auto parsed = parse(ip);
  if (!parsed) {
    return true;
  }
  return parsed->v6 ? nonPublicIpv6(parsed->bytes.data())
                    : nonPublicIpv4(ipv4At(parsed->bytes.data()));
}

bool isThisHostAddress(std::string_view ip) {
  auto parsed = parse(ip);
  if (!parsed) {
    return false;
  }
  const Parsed want = unmapped(*parsed);
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    return false;
  }
  bool found = false;
  for (const ifaddrs* it = list; it != nullptr && !found; it = it->ifa_next) {
    if (it->ifa_addr == nullptr) {
      continue;
    }
    if (!want.v6 && it->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
      found = std::memcmp(&in->sin_addr, want.bytes.data(), 4) == 0;
    } else if (want.v6 && it->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(it->ifa_addr);
      found = std::memcmp(&in6->sin6_addr, want.bytes.data(), 16) == 0;
    }
  }
  ::freeifaddrs(list);
  return found;
}

} // namespace upesi
