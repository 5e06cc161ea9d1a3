// Content-Transfer-Encoding decoders (RFC 2045 section 6) that work on a body as it streams in:
// each takes the bytes of a line, possibly in several pieces, and the line breaks between lines,
// and appends what they decode to `out`. They never fail: damaged input decodes as well as it
// can, as mail readers do, since refusing is the plugins' call, not the parser's.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace upesi::mail {

enum class TransferEncoding {
  Identity, ///< 7bit, 8bit, binary, and anything unknown
  Base64,
  QuotedPrintable,
};

/// From a Content-Transfer-Encoding value (case-insensitive, surrounding blanks ignored).
TransferEncoding transferEncodingFrom(std::string_view name);

class TransferDecoder {
public:
  explicit TransferDecoder(TransferEncoding encoding = TransferEncoding::Identity)
      : encoding_(encoding) {}

  /// Bytes of the current line (no line ending).
  void data(std::string_view bytes, std::string& out);
  /// The line break that ends the current line.
  void lineBreak(std::string& out);
  /// The body ended (without a line break after its last bytes).
  void finish(std::string& out);

private:
  // Quoted-printable state: what followed an '=' that cannot be decided yet.
  enum class Escape { None, Equals, EqualsHex, EqualsBlank };
  // Blanks (and blanks after '=') kept back this long at most: longer runs are data.
  static constexpr std::size_t MaxPendingBlanks = 256;

  void base64(std::string_view bytes, std::string& out);
  void quotedPrintable(std::string_view bytes, std::string& out);
  void flushEscape(std::string& out);

  TransferEncoding encoding_;
  // Base64: sextets gathered toward the next three bytes.
  unsigned quantum_ = 0;
  int sextets_ = 0;
  // Quoted-printable: trailing blanks are dropped at a line end, so they wait.
  std::string blanks_;
  Escape escape_ = Escape::None;
  char escape_hex_ = 0;
  std::string escape_blanks_;
};

} // namespace upesi::mail
