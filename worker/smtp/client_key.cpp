#include "worker/smtp/client_key.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <array>
#include <cstdint>
#include <cstring>

namespace upesi::smtp {

std::string clientKey(std::string_view ip, unsigned ipv6_prefix) {
  if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN) {
    return std::string(ip);
  }
  const std::string text(ip);
  std::array<std::uint8_t, 16> bytes{};
  if (::inet_pton(AF_INET6, text.c_str(), bytes.data()) != 1) {
    return text; // IPv4 (or no address): the address itself
  }
  static constexpr std::array<std::uint8_t, 12> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes.data(), mapped.data(), mapped.size()) == 0) {
    return fmt::format("{}.{}.{}.{}", bytes[12], bytes[13], bytes[14], bytes[15]);
  }
  const unsigned prefix = ipv6_prefix > 128 ? 128 : ipv6_prefix;
  for (unsigned bit = prefix; bit < 128; ++bit) {
    bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80U >> (bit % 8)));
  }
  char out[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET6, bytes.data(), out, sizeof out);
  return fmt::format("{}/{}", out, prefix);
}

} // namespace upesi::smtp
