#include "common/log/escape.hpp"

#include "common/config/text_checks.hpp"

#include <fmt/format.h>

namespace upesi::log {
namespace {

// Control bytes and invalid UTF-8 as \xNN (and \r \n \t); with `value`, also \\ and \".
void appendEscapedBytes(std::string& out, std::string_view text, bool value) {
  out.reserve(out.size() + text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t len = config::utf8SequenceLength(text.substr(i));
      if (len == 0) {
        fmt::format_to(std::back_inserter(out), "\\x{:02X}", c);
      } else {
        out.append(text.substr(i, len));
        i += len - 1;
      }
      continue;
    }
    switch (c) {
    case '\r':
      out += "\\r";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\\':
    case '"':
      if (value) {
        out += '\\';
      }
      out += static_cast<char>(c);
      break;
    default:
      if (c < 0x20 || c == 0x7F) {
        fmt::format_to(std::back_inserter(out), "\\x{:02X}", c);
      } else {
        out += static_cast<char>(c);
      }
    }
  }
}

} // namespace

void appendEscaped(std::string& out, std::string_view text) {
  appendEscapedBytes(out, text, true);
}

void appendLineSafe(std::string& out, std::string_view text) {
  appendEscapedBytes(out, text, false);
}

std::string escaped(std::string_view text) {
  std::string out;
  appendEscaped(out, text);
  return out;
}

} // namespace upesi::log
