// Checks shared by every text config format: the bytes must be text a reader can trust.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace upesi::config {

/// Largest config file any reader accepts; a bigger one is an error, not an allocation spree.
inline constexpr std::size_t MaxConfigFileBytes = 64U * 1024U * 1024U;

/// Returns an error text ("NUL byte", "invalid UTF-8") if `line` cannot be a config line.
std::optional<std::string> checkTextLine(std::string_view line);

/// True if `text` is valid UTF-8 (overlongs, surrogates and values past U+10FFFF refused).
bool isValidUtf8(std::string_view text);

/// Length of the valid multi-byte UTF-8 sequence at the start of `rest`, or 0 if it is not one
/// (for escapers that keep good sequences and mark bad bytes).
std::size_t utf8SequenceLength(std::string_view rest);

/// Splits on \r\n, \n or \r, as haraka-config does. Calls fn(line, line_number) from 1.
template <typename Fn> void forEachLine(std::string_view text, Fn&& fn) {
  std::size_t line_no = 1;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find_first_of("\r\n", start);
    if (end == std::string_view::npos) {
      fn(text.substr(start), line_no);
      return;
    }
    fn(text.substr(start, end - start), line_no);
    start = end + 1;
    if (text[end] == '\r' && start < text.size() && text[start] == '\n') {
      ++start;
    }
    ++line_no;
  }
}

} // namespace upesi::config
