#include "worker/smtp/reply.hpp"

#include <fmt/format.h>

#include <cctype>

namespace upesi::smtp {

bool startsWithEnhancedCode(std::string_view text) {
  // class "." subject(1-3 digits) "." detail(1-3 digits), then space or end
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') {
    return false;
  }
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
      ++i;
    }
    if (i == start || i - start > 3) {
      return false;
    }
    if (part == 0) {
      if (i >= text.size() || text[i] != '.') {
        return false;
      }
      ++i;
    }
  }
  return i == text.size() || text[i] == ' ';
}

void appendReply(std::string& out, const Reply& reply) {
  std::vector<std::string> empty_line{""};
  const auto& lines = reply.lines.empty() ? empty_line : reply.lines;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    fmt::format_to(std::back_inserter(out), "{}{}", reply.code, i + 1 < lines.size() ? '-' : ' ');
    if (!reply.enhanced.empty() && !startsWithEnhancedCode(line)) {
      out += reply.enhanced;
      if (!line.empty()) {
        out += ' ';
      }
    }
    for (char c : line) {
      out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
    }
    out += "\r\n";
  }
}

} // namespace upesi::smtp
