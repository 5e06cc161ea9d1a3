#include "common/mail/transfer_decoder.hpp"
#include "common/mail/transfer_encoder.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using upesi::mail::TransferDecoder;
using upesi::mail::TransferEncoding;

namespace {

// Decodes CRLF-separated encoded lines as the parser feeds them.
std::string decode(std::string_view encoded, TransferEncoding encoding) {
  TransferDecoder decoder(encoding);
  std::string out;
  while (true) {
    const auto crlf = encoded.find("\r\n");
    decoder.data(encoded.substr(0, crlf), out);
    if (crlf == std::string_view::npos) {
      break;
    }
    decoder.lineBreak(out);
    encoded.remove_prefix(crlf + 2);
  }
  decoder.finish(out);
  return out;
}

bool linesAtMost76(std::string_view encoded) {
  std::size_t column = 0;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '\r' && i + 1 < encoded.size() && encoded[i + 1] == '\n') {
      column = 0;
      ++i;
    } else if (++column > 76) {
      return false;
    }
  }
  return true;
}

std::string allBytes() {
  std::string bytes;
  for (int i = 0; i < 256; ++i) {
    bytes += static_cast<char>(i);
  }
  return bytes;
}

} // namespace

TEST_CASE("base64 lines of 76 characters decode to the input") {
  std::string bytes;
  for (int round = 0; round < 5; ++round) {
    bytes += allBytes();
  }
  for (std::size_t size : {0, 1, 2, 3, 56, 57, 58, 1280}) {
    std::string out;
    upesi::mail::encodeBase64(std::string_view(bytes).substr(0, size), out);
    CHECK(linesAtMost76(out));
    CHECK(!out.ends_with("\r\n"));
    CHECK(decode(out, TransferEncoding::Base64) == bytes.substr(0, size));
  }
  std::string out;
  upesi::mail::encodeBase64("hello", out);
  CHECK(out == "aGVsbG8=");
}

TEST_CASE("quoted-printable escapes what it must and keeps hard line breaks") {
  std::string out;
  upesi::mail::encodeQuotedPrintable("a=b caf\xc3\xa9 \r\nend\t\nx \r", out);
  CHECK(out == "a=3Db caf=C3=A9=20\r\nend=09\r\nx =0D");
  CHECK(decode(out, TransferEncoding::QuotedPrintable) == "a=b caf\xc3\xa9 \r\nend\t\r\nx \r");
}

TEST_CASE("quoted-printable breaks long lines softly and never splits an escape") {
  std::string text(200, 'x');
  text += std::string(100, '=');
  text += "\r\nshort";
  std::string out;
  upesi::mail::encodeQuotedPrintable(text, out);
  CHECK(linesAtMost76(out));
  CHECK(decode(out, TransferEncoding::QuotedPrintable) == text);
  std::string binary;
  upesi::mail::encodeQuotedPrintable(allBytes(), binary);
  CHECK(linesAtMost76(binary));
  // A bare LF in the text is a line break, and line breaks decode as CRLF.
  std::string expected = allBytes();
  expected.replace(expected.find('\n'), 1, "\r\n");
  CHECK(decode(binary, TransferEncoding::QuotedPrintable) == expected);
}
