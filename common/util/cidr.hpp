// Cidr: an IPv4 or IPv6 network ("192.0.2.0/24", "2001:db8::/32", a bare address meaning the
// one host), and whether an address lies in it: the IP allow lists of the built-in plugins
// and of the HTTP server. An IPv4-mapped IPv6 address (::ffff:192.0.2.1) matches IPv4
// networks, as a dual-stack listener reports IPv4 clients that way.
#pragma once

#include <arpa/inet.h>
#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace upesi::util {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{}; // IPv4 uses the first 4

  static std::optional<IpAddress> parse(std::string_view text) {
    if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
      text = text.substr(1, text.size() - 2);
    }
    if (text.empty() || text.size() >= 64) {
      return std::nullopt;
    }
    std::string copy(text);
    IpAddress ip;
    if (::inet_pton(AF_INET, copy.c_str(), ip.bytes.data()) == 1) {
      return ip;
    }
    if (::inet_pton(AF_INET6, copy.c_str(), ip.bytes.data()) == 1) {
      ip.v6 = true;
      static constexpr std::array<std::uint8_t, 12> mapped{0, 0, 0, 0, 0,    0,
                                                           0, 0, 0, 0, 0xff, 0xff};
      bool is_mapped = true;
      for (std::size_t i = 0; i < mapped.size(); ++i) {
        is_mapped = is_mapped && ip.bytes[i] == mapped[i];
      }
      if (is_mapped) {
        IpAddress v4;
        for (std::size_t i = 0; i < 4; ++i) {
          v4.bytes[i] = ip.bytes[12 + i];
        }
        return v4;
      }
      return ip;
    }
    return std::nullopt;
  }
};

struct Cidr {
  IpAddress network;
  unsigned prefix = 0;

  /// "addr/len" or "addr" (a single host). Nullopt for anything else.
  static std::optional<Cidr> parse(std::string_view text) {
    auto slash = text.find('/');
    auto address = IpAddress::parse(text.substr(0, slash));
    if (!address) {
      return std::nullopt;
    }
    const unsigned max = address->v6 ? 128 : 32;
    unsigned prefix = max;
    if (slash != std::string_view::npos) {
      auto digits = text.substr(slash + 1);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
          prefix > max) {
        return std::nullopt;
      }
    }
    return Cidr{*address, prefix};
  }

  bool contains(const IpAddress& ip) const {
    if (ip.v6 != network.v6) {
      return false;
    }
    unsigned left = prefix;
    for (std::size_t i = 0; left > 0; ++i) {
      const unsigned bits = left >= 8 ? 8 : left;
      const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
      if ((ip.bytes[i] & mask) != (network.bytes[i] & mask)) {
        return false;
      }
      left -= bits;
    }
    return true;
  }
};

} // namespace upesi::util
