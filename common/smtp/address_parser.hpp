// The RFC 5321 path grammar (§4.1.2), with RFC 6531 UTF-8, turned into upesi::Address values.
//
//   Reverse-path = Path / "<>"          Forward-path = Path
//   Path         = "<" [ A-d-l ":" ] Mailbox ">"      (the source route A-d-l is dropped)
//   Mailbox      = Local-part "@" ( Domain / address-literal )
//
// Pure functions over bytes: no I/O, no allocation beyond the result, linear in the input.
// Errors are values with a text fit for the 501 reply ("Invalid domain in address").
#pragma once

#include <upesi/address.hpp>

#include "common/util/result.hpp"

#include <cstddef>
#include <string_view>

namespace upesi::smtp {

inline constexpr std::size_t MaxLocalPartOctets = 64; // RFC 5321 §4.5.3.1.1
inline constexpr std::size_t MaxDomainOctets = 255;   // RFC 5321 §4.5.3.1.2
inline constexpr std::size_t MaxPathOctets = 256;     // RFC 5321 §4.5.3.1.3, brackets included
inline constexpr std::size_t MaxLabelOctets = 63;     // RFC 1035 §2.3.4

/// Which path the text is: only a reverse path (MAIL FROM) may be the null path <>, only a
/// forward path (RCPT TO) may be a bare <postmaster>.
enum class PathKind { Reverse, Forward };

/// How forgiving to be. The defaults are Haraka's (main.strict_rfc1869 = false).
struct PathOptions {
  /// Accept `user@host` without the angle brackets (MAIL FROM: user@host).
  bool allow_missing_brackets = true;
  /// Accept spaces between "FROM:"/"TO:" and the path (used by the command parser).
  bool allow_space_after_colon = true;
  /// Accept <abuse> without a domain as a forward path, as Haraka does. <postmaster> is always
  /// accepted: RFC 5321 §4.1.1.3 requires it.
  bool allow_local_abuse = true;

  /// RFC 5321 to the letter (Haraka's main.strict_rfc1869 = true).
  static constexpr PathOptions strict() {
    return {.allow_missing_brackets = false,
            .allow_space_after_colon = false,
            .allow_local_abuse = false};
  }
  /// Haraka's default.
  static constexpr PathOptions lenient() { return {}; }
};

/// Parses a reverse or forward path, e.g. "<user@example.com>". `text` is the path alone, as
/// written (no "FROM:" prefix, no ESMTP parameters, no surrounding spaces).
Result<Address> parsePath(std::string_view text, PathKind kind,
                          const PathOptions& options = PathOptions::lenient());

/// True if `text` is an RFC 5321 Domain: dot-separated labels of letters, digits and hyphens
/// (no leading or trailing hyphen, 1..63 octets each, 255 in all). With `allow_utf8`, labels may
/// also hold non-ASCII UTF-8 (RFC 6531 U-labels; not checked against IDNA2008).
bool isDomain(std::string_view text, bool allow_utf8 = false);

/// True if `text` is an RFC 5321 address literal: "[192.0.2.1]" or "[IPv6:2001:db8::1]".
/// General literals with other tags are refused: nothing can deliver to them.
bool isAddressLiteral(std::string_view text);

} // namespace upesi::smtp
