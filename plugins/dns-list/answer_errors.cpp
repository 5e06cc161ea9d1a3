#include "plugins/dns-list/answer_errors.hpp"

#include <fmt/format.h>

namespace upesi::plugins::dns_list {

std::optional<std::string> answerError(const std::vector<std::string>& addresses, bool allow_list) {
  for (const auto& address : addresses) {
    if (address.rfind("127.", 0) != 0) {
      return fmt::format("{}: answer outside 127.0.0.0/8", address);
    }
    if (address == "127.255.255.252") {
      return fmt::format("{}: typo in the list's name", address);
    }
    if (address == "127.255.255.254") {
      return fmt::format("{}: query via a public resolver refused", address);
    }
    if (address == "127.255.255.255") {
      return fmt::format("{}: excessive number of queries", address);
    }
    if (address.rfind("127.255.255.", 0) == 0) {
      return fmt::format("{}: error code", address);
    }
    if (allow_list && address == "127.0.0.255") {
      return fmt::format("{}: query limit exceeded", address);
    }
  }
  return std::nullopt;
}

} // namespace upesi::plugins::dns_list
