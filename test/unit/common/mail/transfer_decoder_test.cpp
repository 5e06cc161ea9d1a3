#include "common/mail/charset.hpp"
#include "common/mail/mime_field.hpp"
#include "common/mail/transfer_decoder.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using upesi::mail::MimeField;
using upesi::mail::TransferDecoder;
using upesi::mail::TransferEncoding;
using upesi::mail::transferEncodingFrom;
using upesi::mail::Utf8Converter;

namespace {

// Decodes `lines` (each ends with a line break but the last), every line fed in pieces of
// `piece` bytes.
std::string decode(TransferEncoding encoding, const std::vector<std::string_view>& lines,
                   std::size_t piece = 1000) {
  TransferDecoder decoder(encoding);
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    for (std::size_t at = 0; at < lines[i].size(); at += piece) {
      decoder.data(lines[i].substr(at, piece), out);
    }
    if (i + 1 < lines.size()) {
      decoder.lineBreak(out);
    }
  }
  decoder.finish(out);
  return out;
}

std::string convert(std::string_view charset, std::string_view bytes, std::size_t piece = 1000) {
  Utf8Converter converter(charset);
  std::string out;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    converter.feed(bytes.substr(at, piece), out);
  }
  converter.finish(out);
  return out;
}

} // namespace

TEST_CASE("transfer encoding names") {
  CHECK(transferEncodingFrom(" Base64 ") == TransferEncoding::Base64);
  CHECK(transferEncodingFrom("QUOTED-PRINTABLE") == TransferEncoding::QuotedPrintable);
  CHECK(transferEncodingFrom("8bit") == TransferEncoding::Identity);
  CHECK(transferEncodingFrom("x-uuencode") == TransferEncoding::Identity);
}

TEST_CASE("identity keeps line breaks as CRLF") {
  CHECK(decode(TransferEncoding::Identity, {"a", "b", ""}) == "a\r\nb\r\n");
}

TEST_CASE("base64 decodes across lines and pieces, whatever the split") {
  for (std::size_t piece : {1, 2, 3, 5, 1000}) {
    CAPTURE(piece);
    CHECK(decode(TransferEncoding::Base64, {"SGVsbG8s", "IHdvcmxk", "IQ=="}, piece) ==
          "Hello, world!");
  }
}

TEST_CASE("base64 is lenient: junk ignored, missing padding tolerated, stray '=' harmless") {
  CHECK(decode(TransferEncoding::Base64, {"SG*Vs bG8\t", "!"}) == "Hello");
  CHECK(decode(TransferEncoding::Base64, {"SGk"}) == "Hi");
  CHECK(decode(TransferEncoding::Base64, {"SA"}) == "H");
  CHECK(decode(TransferEncoding::Base64, {"=====", "S", "==", "SGk="}) == "Hi");
  CHECK(decode(TransferEncoding::Base64, {"SGk=SGk="}) == "HiHi");
  // Bytes outside ASCII are not in the alphabet.
  CHECK(decode(TransferEncoding::Base64, {"\xff\x80SGk="}) == "Hi");
}

TEST_CASE("quoted-printable: escapes, soft breaks, trailing blanks") {
  CHECK(decode(TransferEncoding::QuotedPrintable, {"a=3Db=C3=A9", ""}) == "a=b\xc3\xa9\r\n");
  CHECK(decode(TransferEncoding::QuotedPrintable, {"soft=", "break"}) == "softbreak");
  // Padding after the '=' of a soft break, and trailing blanks, are transport noise.
  CHECK(decode(TransferEncoding::QuotedPrintable, {"soft= \t", "break  \t", "x"}) ==
        "softbreak\r\nx");
  CHECK(decode(TransferEncoding::QuotedPrintable, {"a b\tc"}) == "a b\tc");
  // Lower-case hex is accepted, as readers do.
  CHECK(decode(TransferEncoding::QuotedPrintable, {"=e9"}) == "\xe9");
}

TEST_CASE("quoted-printable: broken escapes are kept literally") {
  CHECK(decode(TransferEncoding::QuotedPrintable, {"=ZZ"}) == "=ZZ");
  CHECK(decode(TransferEncoding::QuotedPrintable, {"=4", "x"}) == "=4\r\nx");
  CHECK(decode(TransferEncoding::QuotedPrintable, {"=4"}) == "=4");
  CHECK(decode(TransferEncoding::QuotedPrintable, {"= x"}) == "= x");
  CHECK(decode(TransferEncoding::QuotedPrintable, {"=="}) == "=");
  CHECK(decode(TransferEncoding::QuotedPrintable, {"==41"}) == "=A");
}

TEST_CASE("quoted-printable: pieces split anywhere decode the same") {
  const std::vector<std::string_view> lines = {"caf=C3=A9 =", "   au lait = ", "=3D end  "};
  const std::string whole = decode(TransferEncoding::QuotedPrintable, lines);
  // Leading blanks are data; the soft breaks join the lines.
  CHECK(whole == "caf\xc3\xa9    au lait = end");
  for (std::size_t piece = 1; piece < 6; ++piece) {
    CHECK(decode(TransferEncoding::QuotedPrintable, lines, piece) == whole);
  }
}

TEST_CASE("quoted-printable: an endless run of blanks is not held back whole") {
  const std::string blanks(100000, ' ');
  const std::string out = decode(TransferEncoding::QuotedPrintable, {blanks + "x"}, 4096);
  CHECK(out == blanks + "x");
}

TEST_CASE("charsets: UTF-8 checked, Latin-1 and Windows-1252 converted, others passed") {
  CHECK(convert("utf-8", "caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(convert("UTF-8", "caf\xc3\xa9", 1) == "caf\xc3\xa9");
  CHECK(convert("iso-8859-1", "caf\xe9") == "caf\xc3\xa9");
  CHECK(convert("windows-1252", "\x80 \x93q\x94") == "\xe2\x82\xac \xe2\x80\x9cq\xe2\x80\x9d");
  CHECK(Utf8Converter("koi8-r").converts() == false);
  CHECK(convert("koi8-r", "\xf0\xd2") == "\xf0\xd2");
  CHECK(Utf8Converter("").converts());
}

TEST_CASE("malformed UTF-8 becomes U+FFFD, split or not") {
  const std::string fffd = "\xef\xbf\xbd";
  for (std::size_t piece : {1, 2, 1000}) {
    CAPTURE(piece);
    CHECK(convert("utf-8",
                  "a\xff"
                  "b",
                  piece) == "a" + fffd + "b");
    CHECK(convert("utf-8", "\xc0\xaf", piece) == fffd + fffd);            // overlong
    CHECK(convert("utf-8", "\xed\xa0\x80", piece) == fffd + fffd + fffd); // surrogate
    CHECK(convert("utf-8", "\xf4\x90\x80\x80", piece) == fffd + fffd + fffd + fffd);
    CHECK(convert("utf-8",
                  "\xe2\x82"
                  "a",
                  piece) == fffd + "a");                       // cut short
    CHECK(convert("utf-8", "x\xe2\x82", piece) == "x" + fffd); // at the end
    CHECK(convert("us-ascii", "\xf0\x9f\x98\x80", piece) == "\xf0\x9f\x98\x80");
  }
}

TEST_CASE("Content-Type and Content-Disposition fields") {
  const auto ct = MimeField::parse(
      " Multipart/Mixed (comment) ; boundary=\"=_a b;\\\"c\" ;CHARSET=UTF-8; junk; x= y z");
  CHECK(ct.value == "multipart/mixed");
  CHECK(ct.param("boundary") == "=_a b;\"c");
  CHECK(ct.param("charset") == "UTF-8");
  CHECK(ct.param("x") == "y");
  CHECK(ct.param("missing").empty());

  CHECK(MimeField::parse("text / plain").value == "text/plain");
  CHECK(MimeField::parse("").value.empty());
  CHECK(MimeField::parse(";;;=;\"").params.empty());
  CHECK(MimeField::parse("a; b=\"unterminated").param("b") == "unterminated");
}

TEST_CASE("RFC 2231 parameters: encoded, continued, and both") {
  CHECK(MimeField::parse("attachment; filename*=UTF-8''na%C3%AFve%20plan.pdf").param("filename") ==
        "na\xc3\xafve plan.pdf");
  CHECK(MimeField::parse("attachment; filename*=iso-8859-1'fr'caf%E9").param("filename") ==
        "caf\xc3\xa9");
  CHECK(
      MimeField::parse("attachment; filename*0=\"long \"; filename*1=name.txt").param("filename") ==
      "long name.txt");
  CHECK(MimeField::parse("attachment; filename*0*=utf-8''%C3%A9t%C3; filename*1*=%A9.txt")
            .param("filename") == "\xc3\xa9t\xc3\xa9.txt");
  // A plain parameter wins over the extended one; bad escapes stay.
  CHECK(MimeField::parse("a; filename=plain; filename*=utf-8''x").param("filename") == "plain");
  CHECK(MimeField::parse("a; filename*=utf-8''100%").param("filename") == "100%");
}

TEST_CASE("hostile fields stay bounded") {
  std::string many = "text/plain";
  for (int i = 0; i < 10000; ++i) {
    many += "; p" + std::to_string(i) + "=v";
  }
  CHECK(MimeField::parse(many).params.size() == 64);
  CHECK(MimeField::parse(std::string(100000, '(')).value.empty());
  CHECK(MimeField::parse("a; f*0*=" + std::string(1000, '%')).param("f").size() == 1000);
}
