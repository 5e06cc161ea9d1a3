// The pure checks of helo.checks, as Haraka's helo.checks decides them: the name's shape
// (bare IP, address literal, valid host name), a dynamic-looking name, the big companies'
// names that must come from their own rDNS, and the operator's regular expressions.
#pragma once

#include "common/auth/public_suffix.hpp"

#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::plugins::helo_checks {

/// Longest HELO name the regular expressions see (a domain has at most 255 octets).
constexpr std::size_t MaxPatternInput = 255;

/// The address in an address literal, "[192.0.2.1]" or "[IPv6:2001:db8::1]"; nullopt for
/// anything else.
std::optional<std::string> literalAddress(std::string_view helo);

/// An IP address given without brackets ("192.0.2.1", "IPv6:2001:db8::1", "2001:db8::1"):
/// RFC 5321 section 4.1.3 wants it as an address literal.
bool isBareIp(std::string_view helo);

/// An address with or without brackets: what the dynamic check leaves alone.
bool looksLikeAddress(std::string_view helo);

enum class HostnameVerdict {
  Pass,
  NoDot,      ///< fail valid_hostname(no_dot): not a FQDN
  Invalid,    ///< fail valid_hostname: unknown TLD, or a public suffix
  SkippedTld, ///< skip valid_hostname(<tld>): a TLD in [skip] tlds
};

struct HostnameCheck {
  HostnameVerdict verdict = HostnameVerdict::Pass;
  std::string tld; ///< the last label, lower-case
};

/// Haraka's valid_hostname for a name that is not an address literal; `skip_tlds` are
/// lower-case, with or without a leading dot.
HostnameCheck checkHostname(std::string_view helo, const auth::PublicSuffixList& list,
                            const std::vector<std::string>& skip_tlds);

/// Whether rDNS name `rdns` is one a big company's HELO may come from: `allowed` is the
/// [bigco] value, a comma-separated list of domains, and the name must be one of them or end
/// in "." and one of them.
bool bigCompanyAllows(std::string_view rdns, std::string_view allowed);

enum class LiteralVerdict {
  NotLiteral, ///< pass literal_mismatch: no literal to compare
  Pass,
  PassPrivate, ///< pass literal_mismatch(private): mode 3 and a private address
  FailExact,   ///< mode 1: not the client's address
  FailNetwork, ///< modes 2 and 3: not in the client's /24
};

/// Haraka's literal_mismatch in `mode` (1: exact, 2: same /24, 3: /24 or a private address).
LiteralVerdict checkLiteral(std::string_view helo, std::string_view remote_ip, int mode);

/// The helo.checks.regexps patterns, compiled once at load (ECMAScript, case-insensitive, each
/// matching the whole name).
class HeloPatterns {
public:
  /// Compiles each line of the file (blank and '#' lines left out); a bad pattern is left out with
  /// an error naming `file` and its line number.
  static HeloPatterns compile(const std::vector<std::string>& lines, std::string_view file);

  /// True when a pattern matches all of `helo`. A name longer than MaxPatternInput counts as
  /// matching (no host name is that long); `error` is set if the regex engine gave up.
  bool matches(std::string_view helo, std::string* error = nullptr) const;

  std::size_t size() const { return patterns_.size(); }
  const std::vector<std::string>& errors() const { return errors_; }

private:
  std::vector<std::regex> patterns_;
  std::vector<std::string> errors_;
};

} // namespace upesi::plugins::helo_checks
