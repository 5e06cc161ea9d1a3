#include "common/mail/transfer_encoder.hpp"

#include "common/util/base64.hpp"

#include <cstddef>

namespace upesi::mail {
namespace {

constexpr std::size_t MaxEncodedLine = 76;
constexpr char Hex[] = "0123456789ABCDEF";

} // namespace

void encodeBase64(std::string_view bytes, std::string& out) {
  const std::string encoded = base64Encode(bytes);
  for (std::size_t at = 0; at < encoded.size(); at += MaxEncodedLine) {
    if (at > 0) {
      out += "\r\n";
    }
    out.append(encoded, at, MaxEncodedLine);
  }
}

void encodeQuotedPrintable(std::string_view text, std::string& out) {
  std::size_t column = 0;
  auto put = [&](std::string_view piece) {
    // A soft break leaves room for the '=' that ends the line.
    if (column + piece.size() > MaxEncodedLine - 1) {
      out += "=\r\n";
      column = 0;
    }
    out += piece;
    column += piece.size();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n' || (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
      out += "\r\n";
      column = 0;
      i += c == '\r' ? 1 : 0;
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    const bool at_line_end = i + 1 == text.size() || text[i + 1] == '\n' ||
                             (text[i + 1] == '\r' && i + 2 < text.size() && text[i + 2] == '\n');
    const bool blank = c == ' ' || c == '\t';
    const bool literal = (byte >= 33 && byte <= 126 && c != '=') || (blank && !at_line_end);
    if (literal) {
      put(std::string_view(&c, 1));
    } else {
      const char escaped[3] = {'=', Hex[byte >> 4], Hex[byte & 15]};
      put(std::string_view(escaped, 3));
    }
  }
}

} // namespace upesi::mail
