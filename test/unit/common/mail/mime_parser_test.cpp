#include "common/mail/mime_parser.hpp"
#include "common/util/base64.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

using upesi::mail::MimeCallbacks;
using upesi::mail::MimeLimits;
using upesi::mail::MimeOptions;
using upesi::mail::MimeParser;
using upesi::mail::MimePart;

namespace {

// What the attachment callbacks saw, in order.
struct Seen {
  std::vector<std::string> events; // "start name", "end name"
  std::map<std::string, std::string> bytes;
  std::size_t largest_chunk = 0;
  int open = 0;
};

MimeCallbacks record(Seen& seen) {
  MimeCallbacks callbacks;
  callbacks.attachment_start = [&seen](const MimePart& part) {
    seen.events.push_back("start " + part.file_name);
    ++seen.open;
    CHECK(seen.open == 1);
  };
  callbacks.attachment_data = [&seen](const MimePart& part, std::string_view bytes) {
    CHECK(seen.open == 1);
    CHECK(!bytes.empty());
    seen.bytes[part.file_name].append(bytes);
    seen.largest_chunk = std::max(seen.largest_chunk, bytes.size());
  };
  callbacks.attachment_end = [&seen](const MimePart& part) {
    seen.events.push_back("end " + part.file_name);
    --seen.open;
    CHECK(seen.open == 0);
  };
  return callbacks;
}

MimeOptions keepText(MimeLimits limits = {}) {
  MimeOptions options;
  options.keep_text = true;
  options.limits = limits;
  return options;
}

// Feeds `message` in pieces of `piece` bytes.
void feed(MimeParser& parser, std::string_view message, std::size_t piece) {
  for (std::size_t at = 0; at < message.size(); at += piece) {
    parser.feed(message.substr(at, piece));
  }
  parser.finish();
}

std::string base64Lines(std::string_view bytes) {
  const std::string encoded = upesi::base64Encode(bytes);
  std::string out;
  for (std::size_t at = 0; at < encoded.size(); at += 76) {
    out += encoded.substr(at, 76) + "\r\n";
  }
  return out;
}

std::string binaryBytes(std::size_t size) {
  std::string out;
  unsigned x = 12345;
  for (std::size_t i = 0; i < size; ++i) {
    x = x * 1103515245 + 12345;
    out += static_cast<char>(x >> 16);
  }
  return out;
}

// A tree as text: "type[child,child]", to compare shapes in one line.
std::string shape(const MimePart& part) {
  std::string out = part.content_type;
  if (!part.children.empty()) {
    out += '[';
    for (std::size_t i = 0; i < part.children.size(); ++i) {
      out += (i > 0 ? "," : "") + shape(*part.children[i]);
    }
    out += ']';
  }
  return out;
}

const std::string Mixed = "From: a@example.com\r\n"
                          "Subject: report\r\n"
                          "MIME-Version: 1.0\r\n"
                          "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
                          "\r\n"
                          "This is the preamble.\r\n"
                          "--outer\r\n"
                          "Content-Type: multipart/alternative; boundary=inner\r\n"
                          "\r\n"
                          "--inner\r\n"
                          "Content-Type: text/plain; charset=iso-8859-1\r\n"
                          "Content-Transfer-Encoding: quoted-printable\r\n"
                          "\r\n"
                          "Caf=E9 au lait, =\r\n"
                          "s'il vous pla=EEt.\r\n"
                          "\r\n"
                          "--inner\r\n"
                          "Content-Type: text/html; charset=utf-8\r\n"
                          "\r\n"
                          "<p>Caf\xc3\xa9</p>\r\n"
                          "--inner--\r\n"
                          "inner epilogue\r\n"
                          "--outer\r\n"
                          "Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
                          "Content-Disposition: attachment; filename=\"report.bin\"\r\n"
                          "Content-Transfer-Encoding: base64\r\n"
                          "\r\n";

std::string mixedMessage(std::string_view attachment) {
  return Mixed + base64Lines(attachment) + "--outer--\r\nepilogue\r\n";
}

} // namespace

TEST_CASE("a message that is not multipart is one text part") {
  MimeParser parser(keepText());
  feed(parser, "Subject: hi\r\n\r\nHello\r\nthere\r\n", 1000);
  const MimePart& root = parser.root();
  CHECK(root.content_type == "text/plain");
  CHECK(root.header("subject") == "hi");
  CHECK(root.text() == "Hello\r\nthere\r\n");
  CHECK(root.children.empty());
  CHECK_FALSE(root.isAttachment());
  CHECK(root.decodedBytes() == 14);
  CHECK(root.limitsReached().empty());
}

TEST_CASE("nested multiparts: tree, headers, decoded text, attachment streamed") {
  const std::string attachment = binaryBytes(100000);
  const std::string message = mixedMessage(attachment);
  for (std::size_t piece : {1, 7, 76, 1000, 65536}) {
    CAPTURE(piece);
    Seen seen;
    MimeParser parser(keepText(), record(seen));
    feed(parser, message, piece);
    const MimePart& root = parser.root();
    REQUIRE(shape(root) == "multipart/mixed[multipart/alternative[text/plain,text/html],"
                           "application/octet-stream]");
    const MimePart& plain = *root.children[0]->children[0];
    CHECK(plain.charset() == "iso-8859-1");
    CHECK(plain.textIsUtf8());
    // The CRLF before a boundary belongs to the boundary: one line break is left of two.
    CHECK(plain.text() == "Caf\xc3\xa9 au lait, s'il vous pla\xc3\xaet.\r\n");
    CHECK(root.children[0]->children[1]->text() == "<p>Caf\xc3\xa9</p>");
    const MimePart& file = *root.children[1];
    CHECK(file.isAttachment());
    CHECK(file.filename() == "report.bin");
    CHECK(file.text().empty());
    CHECK(file.decodedBytes() == attachment.size());
    CHECK(seen.events == std::vector<std::string>{"start report.bin", "end report.bin"});
    CHECK(seen.bytes["report.bin"] == attachment);
    CHECK(seen.largest_chunk <= upesi::mail::AttachmentChunkBytes + 64 * 1024);
    CHECK(parser.partCount() == 5); // the message, the alternative, its two, the file
  }
}

TEST_CASE("bodies are not kept unless asked for; attachments stream either way") {
  Seen seen;
  MimeParser parser({}, record(seen));
  feed(parser, mixedMessage("xyz"), 13);
  CHECK(parser.root().children[0]->children[0]->text().empty());
  CHECK(parser.root().children[0]->children[0]->decodedBytes() > 0);
  CHECK(seen.bytes["report.bin"] == "xyz");
}

TEST_CASE("line breaks next to boundaries") {
  MimeParser parser(keepText());
  feed(parser,
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
       "--b\r\n\r\none\r\n\r\n" // an empty line before the boundary is the body's
       "--b\r\n\r\ntwo\r\n"     // the line break before a boundary is the boundary's
       "--b  \t\r\n\r\n"        // padding after a boundary
       "three\r\n--b--",
       1000);
  REQUIRE(parser.root().children.size() == 3);
  CHECK(parser.root().children[0]->text() == "one\r\n");
  CHECK(parser.root().children[1]->text() == "two");
  CHECK(parser.root().children[2]->text() == "three");
}

TEST_CASE("a boundary is a whole line: prefixes and look-alikes are body text") {
  MimeParser parser(keepText());
  feed(parser,
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
       "--b\r\n\r\n"
       "--bb\r\n"
       " --b\r\n"
       "--b-\r\n"
       "x--b\r\n"
       "--b--\r\n",
       1000);
  REQUIRE(parser.root().children.size() == 1);
  CHECK(parser.root().children[0]->text() == "--bb\r\n --b\r\n--b-\r\nx--b");
}

TEST_CASE("an outer boundary ends the inner multipart that did not close") {
  Seen seen;
  MimeParser parser(keepText(), record(seen));
  feed(parser,
       "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
       "--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n"
       "--i\r\nContent-Type: image/png; name=a.png\r\n\r\nPNG\r\n"
       "--o\r\n\r\nafter\r\n"
       "--i\r\n\r\nnot a boundary any more\r\n"
       "--o--\r\n",
       3);
  CHECK(shape(parser.root()) == "multipart/mixed[multipart/mixed[image/png],text/plain]");
  CHECK(parser.root().children[1]->text() == "after\r\n--i\r\n\r\nnot a boundary any more");
  CHECK(seen.bytes["a.png"] == "PNG");
  CHECK(seen.events == std::vector<std::string>{"start a.png", "end a.png"});
}

TEST_CASE("a message cut short still ends its open attachment once") {
  Seen seen;
  MimeParser parser(keepText(), record(seen));
  feed(parser,
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
       "--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
       "SGVsbG8",
       1000);
  CHECK(seen.events == std::vector<std::string>{"start ", "end "});
  CHECK(seen.bytes[""] == "Hello");
  parser.finish();
  parser.feed("--b\r\n\r\nmore");
  CHECK(parser.root().children.size() == 1);
}

TEST_CASE("a part header cut by a boundary, and a header without a body") {
  Seen seen;
  MimeParser parser(keepText(), record(seen));
  feed(parser,
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
       "--b\r\nContent-Type: application/zip; name=x.zip\r\n"
       "--b\r\nContent-Type: text/plain\r\n\r\nok\r\n"
       "--b--\r\n",
       1000);
  REQUIRE(parser.root().children.size() == 2);
  CHECK(parser.root().children[0]->content_type == "application/zip");
  CHECK(seen.events == std::vector<std::string>{"start x.zip", "end x.zip"});
  CHECK(parser.root().children[1]->text() == "ok");
}

TEST_CASE("what is an attachment") {
  Seen seen;
  MimeParser parser(keepText(), record(seen));
  feed(parser,
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
       "--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n"
       "\r\nattached text\r\n"
       "--b\r\nContent-Type: text/plain\r\nContent-Disposition: inline\r\n\r\ninline\r\n"
       "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nhi\r\n"
       "--b\r\nContent-Type: image/gif\r\nContent-Disposition: inline\r\n\r\nGIF\r\n"
       "--b--\r\n",
       1000);
  const auto& parts = parser.root().children;
  REQUIRE(parts.size() == 4);
  CHECK(parts[0]->isAttachment());
  CHECK(parts[0]->text().empty());
  CHECK_FALSE(parts[1]->isAttachment());
  CHECK(parts[1]->text() == "inline");
  CHECK_FALSE(parts[2]->isAttachment());
  CHECK(parts[2]->text() == "Subject: inner\r\n\r\nhi");
  CHECK(parts[3]->isAttachment());
  CHECK(seen.bytes["a.txt"] == "attached text");
}

TEST_CASE("multipart/digest parts default to message/rfc822; no boundary means no split") {
  MimeParser digest(keepText());
  feed(digest,
       "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: x\r\n--d--\r\n",
       1000);
  REQUIRE(digest.root().children.size() == 1);
  CHECK(digest.root().children[0]->content_type == "message/rfc822");

  MimeParser unsplit(keepText());
  feed(unsplit, "Content-Type: multipart/mixed\r\n\r\n--b\r\nx\r\n", 1000);
  CHECK(unsplit.root().children.empty());
  CHECK(unsplit.root().text() == "--b\r\nx\r\n");
}

TEST_CASE("charsets: converted where cheap, named otherwise") {
  MimeParser parser(keepText());
  feed(parser,
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
       "--b\r\nContent-Type: text/plain; charset=\"KOI8-R\"\r\n\r\n\xf0\xd2\xc9\r\n"
       "--b\r\nContent-Type: text/plain; charset=windows-1252\r\n\r\n\x80\r\n"
       "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbad \xff\r\n"
       "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
       "4pyT\r\n"
       "--b--\r\n",
       2);
  const auto& parts = parser.root().children;
  REQUIRE(parts.size() == 4);
  CHECK(parts[0]->charset() == "koi8-r");
  CHECK_FALSE(parts[0]->textIsUtf8());
  CHECK(parts[0]->text() == "\xf0\xd2\xc9");
  CHECK(parts[1]->text() == "\xe2\x82\xac");
  CHECK(parts[2]->text() == "bad \xef\xbf\xbd");
  CHECK(parts[3]->charset().empty());
  CHECK(parts[3]->text() == "\xe2\x9c\x93");
}

TEST_CASE("lines ending in a bare LF are read too") {
  MimeParser parser(keepText());
  feed(parser,
       "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nlf\n"
       "--b--\n",
       1);
  REQUIRE(parser.root().children.size() == 1);
  CHECK(parser.root().children[0]->text() == "lf");
}

TEST_CASE("long lines: passed on in pieces, never boundaries, CR held across pieces") {
  const std::string longLine = std::string(5000, 'x') + "--b";
  const std::string message = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                              "--b\r\n\r\n" +
                              longLine + "\r\nend\r\n--b\r\n" +
                              "Content-Type: application/x-raw; name=r\r\n\r\n" +
                              std::string(3000, 'r') + "\rr\r\n--b--\r\n";
  for (std::size_t piece : {1, 1024, 1025, 4999, 100000}) {
    CAPTURE(piece);
    Seen s;
    MimeParser p(keepText(), record(s));
    feed(p, message, piece);
    REQUIRE(p.root().children.size() == 2);
    CHECK(p.root().children[0]->text() == longLine + "\r\nend");
    CHECK(s.bytes["r"] == std::string(3000, 'r') + "\rr");
  }
}

TEST_CASE("a header line longer than the line buffer is kept whole") {
  MimeParser parser(keepText());
  const std::string subject(3000, 's');
  feed(parser, "Subject: " + subject + "\r\nContent-Type: text/html\r\n\r\nx", 100);
  CHECK(parser.root().header("Subject") == subject);
  CHECK(parser.root().content_type == "text/html");
}

TEST_CASE("limit: nesting depth") {
  std::string message;
  for (int i = 0; i < 100; ++i) {
    message += "Content-Type: multipart/mixed; boundary=\"b" + std::to_string(i) + "\"\r\n\r\n--b" +
               std::to_string(i) + "\r\n";
  }
  message += "Content-Type: application/x-deep; name=deep\r\n\r\ndeep\r\n";
  Seen seen;
  MimeLimits limits;
  limits.max_depth = 5;
  MimeParser parser(keepText(limits), record(seen));
  feed(parser, message, 100);
  CHECK(parser.limitsReached().depth);
  CHECK(parser.root().limitsReached() == std::vector<std::string>{"depth"});
  CHECK(parser.partCount() == 6);
  CHECK(seen.events.empty());
}

TEST_CASE("limit: number of parts") {
  std::string message = "Content-Type: multipart/mixed; boundary=b\r\n\r\n";
  for (int i = 0; i < 5000; ++i) {
    message += "--b\r\nContent-Type: application/x-n; name=n" + std::to_string(i) + "\r\n\r\nn\r\n";
  }
  message += "--b--\r\n";
  Seen seen;
  MimeLimits limits;
  limits.max_parts = 100;
  MimeParser parser(keepText(limits), record(seen));
  feed(parser, message, 4096);
  CHECK(parser.partCount() == 100);
  CHECK(parser.root().children.size() == 99);
  CHECK(parser.limitsReached().parts);
  CHECK(seen.events.size() == 2 * 99);
  CHECK(seen.open == 0);
}

TEST_CASE("limit: header bytes per part, whole fields kept, the body still parsed") {
  MimeLimits limits;
  limits.max_header_bytes = 1000;
  MimeParser parser(keepText(limits));
  std::string message = "Content-Type: multipart/mixed; boundary=b\r\n";
  for (int i = 0; i < 100; ++i) {
    message += "X-Filler: " + std::string(50, 'f') + "\r\n\tfolded\r\n";
  }
  message += "\r\n--b\r\n\r\npart\r\n--b--\r\n";
  feed(parser, message, 333);
  const MimePart& root = parser.root();
  CHECK(root.header_truncated);
  CHECK(parser.limitsReached().header);
  CHECK(root.content_type == "multipart/mixed");
  for (const auto& value : root.headers("X-Filler")) {
    CHECK(value == std::string(50, 'f') + "\tfolded");
  }
  REQUIRE(root.children.size() == 1);
  CHECK(root.children[0]->text() == "part");
}

TEST_CASE("limit: decoded text kept, cut between UTF-8 characters") {
  MimeLimits limits;
  limits.max_kept_bytes = 1001;
  MimeParser parser(keepText(limits));
  std::string euros;
  for (int i = 0; i < 1000; ++i) {
    euros += "\xe2\x82\xac";
  }
  feed(parser, "Content-Type: text/plain; charset=utf-8\r\n\r\n" + euros, 10);
  CHECK(parser.root().textTruncated());
  CHECK(parser.root().text().size() == 999);
  CHECK(parser.root().decodedBytes() == euros.size());
  CHECK(parser.limitsReached().kept_bytes);
}

TEST_CASE("hostile input: garbage of every kind parses without harm") {
  const std::vector<std::string> inputs = {
      "",
      "\r\n",
      "\n\n\n",
      "--\r\n",
      "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n----\r\n",
      "Content-Type: multipart/mixed; boundary=-\r\n\r\n---\r\n-----\r\n---\r\n",
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n--b--\r\n--b\r\n",
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; "
      "boundary=b\r\n\r\n--b\r\n\r\nsame boundary\r\n--b--\r\n",
      "Content-Type: \r\nContent-Transfer-Encoding: base64\r\n\r\n====\r\n",
      std::string(100000, '\r'),
      std::string("Content-Type: text/plain\r\n\r\n") + std::string(10000, '\0'),
  };
  for (const auto& input : inputs) {
    for (std::size_t piece : {1, 3, 1000}) {
      Seen seen;
      MimeParser parser(keepText(), record(seen));
      feed(parser, input, piece);
      CHECK(seen.open == 0);
      CHECK(parser.finished());
    }
  }
}

TEST_CASE("the same boundary nested: the inner level takes it") {
  MimeParser parser(keepText());
  feed(parser,
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; "
       "boundary=b\r\n\r\n--b\r\n\r\nsame boundary\r\n--b--\r\n--b\r\n\r\nlast\r\n--b--\r\n",
       1000);
  // The inner multipart closes; the outer still waits for its own next boundary, which reads
  // the same: nesting one boundary is ambiguous (RFC 2046 forbids it), and the inner wins.
  CHECK(shape(parser.root()) == "multipart/mixed[multipart/mixed[text/plain],text/plain]");
}
