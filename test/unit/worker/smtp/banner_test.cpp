#include "common/mail/mime_parser.hpp"
#include "test/support/temp_dir.hpp"
#include "worker/smtp/banner.hpp"
#include "worker/smtp/message_stream.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using upesi::mail::MimeParser;
using upesi::smtp::Banner;
using upesi::smtp::MessageStream;
using upesi::smtp::WriteOptions;

namespace {

// The message as the queue would write it with `banner`, fed in small pieces as DATA arrives.
std::string withBanner(std::string_view message, const Banner& banner,
                       upesi::smtp::MessageStreamOptions stream_options = {}) {
  MessageStream stream(stream_options);
  MimeParser parser;
  for (std::size_t at = 0; at < message.size(); at += 7) {
    auto piece = message.substr(at, 7);
    REQUIRE(stream.append(piece).ok());
    parser.feed(piece);
  }
  REQUIRE(stream.finish().ok());
  parser.finish();
  WriteOptions options;
  options.edits = upesi::smtp::bannerEdits(parser.root(), banner);
  std::string out;
  REQUIRE(stream
              .writeTo(
                  [&out](std::string_view bytes) {
                    out += bytes;
                    return upesi::Result<std::monostate>(std::monostate{});
                  },
                  options)
              .ok());
  return out;
}

// The decoded text of the part of `message` whose Content-Type is `type` (not an attachment).
std::string partText(std::string_view message, std::string_view type) {
  MimeParser parser(upesi::mail::MimeOptions{{}, true});
  parser.feed(message);
  parser.finish();
  std::vector<const upesi::mail::MimePart*> parts{&parser.root()};
  while (!parts.empty()) {
    const auto* part = parts.back();
    parts.pop_back();
    if (part->content_type == type && part->children.empty() && !part->attachment) {
      return part->body_text;
    }
    for (const auto& child : part->children) {
      parts.push_back(child.get());
    }
  }
  return "<none>";
}

const std::string_view Multipart = "From: a@b.example\r\n"
                                   "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
                                   "\r\n"
                                   "preamble\r\n"
                                   "--outer\r\n"
                                   "Content-Type: multipart/alternative; boundary=inner\r\n"
                                   "\r\n"
                                   "--inner\r\n"
                                   "Content-Type: text/plain; charset=utf-8\r\n"
                                   "Content-Transfer-Encoding: quoted-printable\r\n"
                                   "\r\n"
                                   "Caf=C3=A9 au lait, long line that goes on =\r\n"
                                   "and on.\r\n"
                                   "--inner\r\n"
                                   "Content-Type: text/html\r\n"
                                   "Content-Transfer-Encoding: base64\r\n"
                                   "\r\n"
                                   "PGh0bWw+PGJvZHk+PHA+SGk8L3A+PC9ib2R5PjwvaHRtbD4=\r\n"
                                   "--inner--\r\n"
                                   "--outer\r\n"
                                   "Content-Type: text/plain\r\n"
                                   "Content-Disposition: attachment; filename=notes.txt\r\n"
                                   "\r\n"
                                   "attached text\r\n"
                                   "--outer--\r\n"
                                   "epilogue\r\n";

} // namespace

TEST_CASE("a plain message gets the banner after its last line") {
  auto out = withBanner("Subject: hi\r\n\r\nHello\r\n.dot line\r\n", {"-- \nsent by us", ""});
  CHECK(out == "Subject: hi\r\n\r\nHello\r\n.dot line\r\n-- \r\nsent by us\r\n");
  auto unterminated = withBanner("Subject: hi\r\n\r\nHello", {"banner", ""});
  CHECK(unterminated == "Subject: hi\r\n\r\nHello\r\nbanner");
}

TEST_CASE("each text part gets the banner in its own encoding, attachments none") {
  auto out = withBanner(Multipart, {"-- \nfoot\xc3\xa9", "<p>foot</p>"});
  CHECK(partText(out, "text/plain") ==
        "Caf\xc3\xa9 au lait, long line that goes on and on.\r\n-- \r\nfoot\xc3\xa9");
  CHECK(partText(out, "text/html") == "<html><body><p>Hi</p><p>foot</p></body></html>");
  // The structure around the parts is as it came: boundaries, preamble, epilogue, attachment.
  CHECK(out.starts_with(std::string(Multipart.substr(0, Multipart.find("Caf=C3")))));
  CHECK(out.find("\r\n--inner\r\nContent-Type: text/html") != std::string::npos);
  CHECK(out.ends_with("filename=notes.txt\r\n\r\nattached text\r\n--outer--\r\nepilogue\r\n"));
}

TEST_CASE("a message spilled to its spool file gets the same banners") {
  upesi::test::TempDir spool;
  upesi::smtp::MessageStreamOptions spilled;
  spilled.spool_after = 0;
  spilled.spool_dir = spool.path().string();
  Banner banner{"-- \nfoot", "<p>foot</p>"};
  CHECK(withBanner(Multipart, banner, spilled) == withBanner(Multipart, banner));
}

TEST_CASE("without an HTML form the text is used, and no </body> means at the end") {
  auto out = withBanner("Content-Type: text/html\r\n\r\n<p>Hi</p>", {"one\ntwo", ""});
  CHECK(out == "Content-Type: text/html\r\n\r\n<p>Hi</p>one<br/>\r\ntwo");
}

TEST_CASE("a Latin-1 part gets the banner in Latin-1") {
  auto out = withBanner("Content-Type: text/plain; charset=ISO-8859-1\r\n\r\nHej\r\n",
                        {"caf\xc3\xa9 \xe2\x82\xac", ""});
  CHECK(out.ends_with("Hej\r\ncaf\xe9 ?\r\n"));
}

TEST_CASE("the parser gives each leaf the range of its body") {
  MimeParser parser;
  parser.feed(Multipart);
  parser.finish();
  const auto& outer = parser.root();
  REQUIRE(outer.children.size() == 2);
  const auto& plain = *outer.children[0]->children[0];
  std::string_view message = Multipart;
  CHECK(message.substr(plain.body_begin, plain.body_end - plain.body_begin) ==
        "Caf=C3=A9 au lait, long line that goes on =\r\nand on.");
  const auto& attachment = *outer.children[1];
  CHECK(message.substr(attachment.body_begin, attachment.body_end - attachment.body_begin) ==
        "attached text");
  CHECK(outer.body_begin == 0);
  CHECK(outer.body_end == 0);
}
