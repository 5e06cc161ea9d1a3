// The pure parts of the bounce plugin: the X-Haraka-Bounce-Validation hash (an HMAC over the
// original message's From, Date and Message-ID, in Haraka's format so that a Haraka node and
// this one sharing a secret accept each other's bounces), finding the original's fields in a
// bounce, the verdict on them, and the relay addresses named in its Received fields.
#pragma once

#include <upesi/body.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::plugins::bounce {

inline constexpr std::string_view HashHeader = "X-Haraka-Bounce-Validation";

/// Hex HMAC of "<from>:<date>:<message_id>" with `algorithm` (an OpenSSL digest name such as
/// sha256); nullopt when the algorithm is unknown.
std::optional<std::string> computeHash(const std::string& algorithm, std::string_view secret,
                                       std::string_view from, std::string_view date,
                                       std::string_view message_id);

/// A header value as Haraka's header.get_decoded gives it to the hash: line breaks removed,
/// leading blanks trimmed (encoded words are not decoded: the bounce side cannot either).
std::string hashInput(std::string_view value);

/// The original message's fields as found in a bounce; empty when absent.
struct BounceFields {
  std::string from;
  std::string date;
  std::string message_id;
  std::string hash;
  bool any() const {
    return !from.empty() || !date.empty() || !message_id.empty() || !hash.empty();
  }
};

/// A field of a header block within `text`, unfolded and trimmed; "" when absent.
std::string extractHeader(std::string_view text, std::string_view name);

/// The first part (depth first) whose text holds any of the fields.
BounceFields findBounceFields(const BodyPart& body);

struct Verdict {
  enum class Type { Pass, Skip, Fail } type = Type::Skip;
  std::string value; ///< fail: "validate_bounce" or "bounce_date"
  std::string msg;
  std::string reject_on; ///< fail: the [reject] key that refuses it
};

struct VerifyOptions {
  std::string algorithm = "sha256";
  std::string secret;
  long long max_age_days = 6;
  bool check_date = true; ///< [check] hash_date: the original's Date within max_age_days
  std::int64_t now = 0;
  nlohmann::json whitelist; ///< bounce_whitelist.json: rcpt -> [from, "*@domain"]
  std::string rcpt;         ///< the bounce's recipient, lower-case
  std::string from_address; ///< the bounce's own From address, lower-case; "" if unparsable
};

Verdict verify(const BounceFields& fields, const VerifyOptions& options);

/// True if bounce_whitelist.json lets `from` send bounces to `rcpt` (exact or "*@domain").
bool isWhitelisted(const nlohmann::json& whitelist, const std::string& rcpt,
                   const std::string& from);

/// The public IP addresses in brackets or parentheses after each "Received:" of the texts of
/// `body`'s parts, in order, each once, at most `limit`.
std::vector<std::string> receivedIps(const BodyPart& body, std::size_t limit);

/// The same over one text.
void receivedIpsIn(std::string_view text, std::vector<std::string>& ips, std::size_t limit);

} // namespace upesi::plugins::bounce
