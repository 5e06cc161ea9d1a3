#include "common/smtp_client/capabilities.hpp"

#include <upesi/text.hpp>

#include "common/smtp_client/sasl_client.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

namespace upesi::smtp_client {

Capabilities parseCapabilities(const ServerReply& ehlo_reply) {
  Capabilities caps;
  caps.esmtp = true;
  for (std::size_t i = 1; i < ehlo_reply.lines.size(); ++i) {
    const std::string& line = ehlo_reply.lines[i];
    caps.extensions.push_back(line);
    auto space = line.find_first_of(" =");
    std::string keyword = text::toUpper(std::string_view(line).substr(0, space));
    std::string_view args =
        space == std::string::npos ? std::string_view{} : std::string_view(line).substr(space + 1);
    if (keyword == "PIPELINING") {
      caps.pipelining = true;
    } else if (keyword == "SIZE") {
      caps.size = true;
      std::uint64_t limit = 0;
      for (char c : args) {
        if (c < '0' || c > '9' || limit > (UINT64_MAX - 9) / 10) {
          limit = 0;
          break;
        }
        limit = limit * 10 + static_cast<std::uint64_t>(c - '0');
      }
      caps.size_limit = limit;
    } else if (keyword == "8BITMIME") {
      caps.eight_bit_mime = true;
    } else if (keyword == "SMTPUTF8") {
      caps.smtputf8 = true;
    } else if (keyword == "STARTTLS") {
      caps.starttls = true;
    } else if (keyword == "ENHANCEDSTATUSCODES") {
      caps.enhanced_status_codes = true;
    } else if (keyword == "DSN") {
      caps.dsn = true;
    } else if (keyword == "REQUIRETLS") {
      caps.requiretls = true;
    } else if (keyword == "MT-PRIORITY") {
      caps.mt_priority = true;
    } else if (keyword == "AUTH") {
      // Some servers say it twice, "AUTH=LOGIN" for old clients and "AUTH LOGIN PLAIN".
      for (auto& mechanism : parseAuthMechanisms(args)) {
        if (std::find(caps.auth.begin(), caps.auth.end(), mechanism) == caps.auth.end()) {
          caps.auth.push_back(std::move(mechanism));
        }
      }
    }
  }
  return caps;
}

} // namespace upesi::smtp_client
