// ASCII character classes for the protocol parsers: locale-free, unlike <cctype>, and constexpr.
// (Case conversion and comparison are in the public <upesi/text.hpp>.)
#pragma once

#include <string_view>

namespace upesi::ascii {

constexpr bool isLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

constexpr bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

constexpr bool isHexDigit(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/// A byte of UTF-8 (or anything else) outside ASCII.
constexpr bool isNonAscii(char c) {
  return static_cast<unsigned char>(c) >= 0x80;
}

constexpr bool hasNonAscii(std::string_view text) {
  for (char c : text) {
    if (isNonAscii(c)) {
      return true;
    }
  }
  return false;
}

} // namespace upesi::ascii
