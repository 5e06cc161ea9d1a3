// ASCII text helpers for plugins and the core alike, header-only. SMTP verbs, ESMTP keywords,
// MIME and header names and config words are ASCII and case-insensitive; the C library's
// toupper/tolower follow the locale, so nothing here calls them.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::text {

constexpr char toLower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr char toUpper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

inline std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = toLower(c);
  }
  return out;
}

inline std::string toUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = toUpper(c);
  }
  return out;
}

constexpr bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (toLower(a[i]) != toLower(b[i])) {
      return false;
    }
  }
  return true;
}

constexpr bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && equalsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

/// `s` without leading and trailing whitespace (space, tab, CR, LF, VT, FF).
constexpr std::string_view trim(std::string_view s) {
  constexpr std::string_view Space = " \t\r\n\v\f";
  const auto first = s.find_first_not_of(Space);
  if (first == std::string_view::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(Space) - first + 1);
}

/// The items of a list option such as "a, b c": split at any of `separators`, blanks trimmed,
/// empty items dropped. Haraka's list options accept commas and spaces alike.
inline std::vector<std::string> splitList(std::string_view text,
                                          std::string_view separators = ", ") {
  std::vector<std::string> items;
  while (!text.empty()) {
    const std::size_t end = std::min(text.find_first_of(separators), text.size());
    const std::string_view item = trim(text.substr(0, end));
    if (!item.empty()) {
      items.emplace_back(item);
    }
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  return items;
}

/// Haraka's truthiness of a config word: true, yes, ok, enabled, on or 1, in any case.
constexpr bool isTruthy(std::string_view value) {
  value = trim(value);
  for (std::string_view word : {"true", "yes", "ok", "enabled", "on", "1"}) {
    if (equalsIgnoreCase(value, word)) {
      return true;
    }
  }
  return false;
}

} // namespace upesi::text
