// SPF macro expansion (RFC 7208 section 7): the pure part, with every value the macros may
// name given by the caller, who does the DNS work ('p' needs a validated host name).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace upesi::spf {

/// Where a macro-string is used: a domain-spec (a DNS name, so c, r and t are not allowed and
/// the result is truncated to 253 characters) or an explanation text (spaces allowed).
enum class MacroContext { DomainSpec, Explanation };

/// The longest domain name a domain-spec expands to (RFC 7208 section 7.3).
constexpr std::size_t MaxDomainLength = 253;

struct MacroInputs {
  std::string sender;        // s: <sender>, local-part@domain
  std::string local_part;    // l
  std::string sender_domain; // o
  std::string domain;        // d: the <domain> checked now; include and redirect change it
  std::string client_ip;     // i, c, v: IPv4 or IPv6 text
  std::string validated_name = "unknown"; // p: resolved by the caller
  std::string helo;                       // h
  std::string receiver = "unknown";       // r: the host doing the check
  std::int64_t timestamp = 0;             // t
};

struct MacroExpansion {
  std::string text;
  std::string permerror; // why the macro-string is bad; empty on success
  bool ok() const { return permerror.empty(); }
};

/// Why `text` is not a valid macro-string in `context`; empty when it is.
std::string macroStringError(std::string_view text, MacroContext context);

/// `text` with its macros expanded; a syntax error or an unusable client IP is a permerror.
MacroExpansion expandMacros(std::string_view text, const MacroInputs& inputs, MacroContext context);

/// `name` cut to MaxDomainLength by dropping labels from the left (section 7.3); a last label
/// that is still too long loses characters from the left.
std::string truncateDomain(std::string name);

} // namespace upesi::spf
