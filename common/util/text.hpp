// Small text helpers shared by the readers and the writers; the ASCII ones (case, trim, lists)
// are in the public <upesi/text.hpp>, which this includes.
#pragma once

#include <upesi/text.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace upesi {

/// Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`, ignoring
/// ASCII case: how close a typo is to what was meant.
std::size_t editDistance(std::string_view a, std::string_view b);

/// The current time as an RFC 5322 date in UTC: "Mon, 23 Nov 2026 09:25:28 +0000".
std::string rfc5322Now();
/// `seconds` since the epoch as an RFC 5322 date in UTC.
std::string rfc5322Date(std::int64_t seconds);

namespace text {

/// A space or a horizontal tab: RFC 5322's WSP.
constexpr bool isWsp(char c) {
  return c == ' ' || c == '\t';
}

/// WSP or a line break: what folded header fields and DKIM/DMARC tag lists may hold between
/// tokens (RFC 5322 FWS, RFC 6376 3.2).
constexpr bool isFoldingSpace(char c) {
  return isWsp(c) || c == '\r' || c == '\n';
}

/// The value of a hex digit of either case, or -1. RFC 2045 and 3461 ask for upper case;
/// senders write lower case too and mean the same byte.
constexpr int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  c = toUpper(c);
  return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/// Each byte as two lower-case hex digits.
inline std::string hexLower(std::string_view bytes) {
  constexpr std::string_view Digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += Digits[c >> 4];
    out += Digits[c & 0x0f];
  }
  return out;
}

} // namespace text
} // namespace upesi
