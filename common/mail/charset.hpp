// Text of a MIME part to UTF-8, as it streams in. Only the cheap cases are converted: UTF-8 and
// US-ASCII (checked, malformed bytes become U+FFFD, as WHATWG's decoder does, so the text is
// always valid UTF-8 for JSON and logs), ISO-8859-1 and Windows-1252 (a byte is a code point or
// a table entry). Other charsets are not converted: converts() is false and the bytes are
// passed through as they are, for a plugin that knows the charset.
#pragma once

#include <string>
#include <string_view>

namespace upesi::mail {

class Utf8Converter {
public:
  /// `charset` as a Content-Type names it (case-insensitive); empty means unlabelled, read as
  /// UTF-8 (which US-ASCII is part of).
  explicit Utf8Converter(std::string_view charset = {});

  /// True when the output is UTF-8.
  bool converts() const { return kind_ != Kind::PassThrough; }

  void feed(std::string_view bytes, std::string& out);
  /// End of the text: an incomplete UTF-8 sequence becomes U+FFFD.
  void finish(std::string& out);

private:
  enum class Kind { Utf8, Latin1, Windows1252, PassThrough };

  void utf8(std::string_view bytes, std::string& out);

  Kind kind_;
  // UTF-8 check: the sequence under way, how many continuation bytes it still needs and the
  // range the next one must fall in (which rules out overlongs, surrogates and > U+10FFFF).
  std::string sequence_;
  int needed_ = 0;
  unsigned char lower_ = 0x80;
  unsigned char upper_ = 0xbf;
};

/// Appends code point `cp` (< 0x110000) as UTF-8.
void appendUtf8(unsigned cp, std::string& out);

} // namespace upesi::mail
