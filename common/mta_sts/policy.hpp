// MTA-STS (RFC 8461): the TXT record that announces a policy (`_mta-sts.<domain>`, "v=STSv1;
// id=...;") and the policy file itself (`https://mta-sts.<domain>/.well-known/mta-sts.txt`),
// read as the RFC says: unknown fields ignored, anything malformed is no policy at all.
#pragma once

#include "common/util/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::mta_sts {

enum class Mode { Enforce, Testing, None };

const char* toString(Mode mode);

struct Policy {
  Mode mode = Mode::None;
  std::vector<std::string> mx; ///< patterns, lower case: "mx.example.com", "*.example.net"
  std::uint32_t max_age = 0;   ///< seconds, at most RFC 8461's 31557600

  /// Whether the MX host `name` matches one of the patterns (RFC 8461 4.1: a "*." pattern
  /// stands for exactly one leftmost label).
  bool matches(std::string_view name) const;
};

/// The longest max_age RFC 8461 3.2 allows (about a year).
constexpr std::uint32_t MaxAge = 31557600;
/// The most a policy file may hold (RFC 8461 3.3 suggests 64 KiB).
constexpr std::size_t MaxPolicyBytes = 64 * 1024;

/// The id of the one "v=STSv1" record among a name's TXT records, or nullopt: none, several,
/// or a malformed one (RFC 8461 3.1: then the domain has no policy).
std::optional<std::string> recordId(const std::vector<std::string>& txt_records);

/// The policy a file's text states, or why it is none.
Result<Policy> parsePolicy(std::string_view text);

} // namespace upesi::mta_sts
