#include "test/support/temp_dir.hpp"
#include "worker/smtp/message_stream.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <vector>

using upesi::Error;
using upesi::Result;
using upesi::smtp::ByteSink;
using upesi::smtp::LineEnding;
using upesi::smtp::MessageStream;
using upesi::smtp::MessageStreamOptions;
using upesi::smtp::WriteOptions;
using upesi::test::TempDir;

namespace {

struct Collected {
  std::string bytes;
  std::size_t calls = 0;
  std::size_t largest = 0;
};

std::string write(const MessageStream& ms, const WriteOptions& options = {},
                  Collected* stats = nullptr) {
  Collected c;
  ByteSink sink = [&](std::string_view bytes) -> Result<std::monostate> {
    c.bytes.append(bytes);
    ++c.calls;
    c.largest = std::max(c.largest, bytes.size());
    return std::monostate{};
  };
  auto r = ms.writeTo(sink, options);
  REQUIRE(r.ok());
  if (stats != nullptr) {
    *stats = c;
  }
  return c.bytes;
}

MessageStreamOptions inDir(const TempDir& dir, std::int64_t spool_after) {
  MessageStreamOptions o;
  o.spool_dir = dir.str();
  o.spool_after = spool_after;
  return o;
}

void appendAll(MessageStream& ms, std::string_view bytes, std::size_t piece) {
  while (!bytes.empty()) {
    std::size_t n = std::min(piece, bytes.size());
    REQUIRE(ms.append(bytes.substr(0, n)).ok());
    bytes.remove_prefix(n);
  }
}

// Undo SMTP dot-stuffing of a CRLF text (a model for the round trip).
std::string unstuff(std::string_view s) {
  std::string out;
  bool line_start = true;
  for (char c : s) {
    if (line_start && c == '.') {
      line_start = false;
      continue;
    }
    out.push_back(c);
    line_start = c == '\n';
  }
  return out;
}

std::string replaceAll(std::string s, std::string_view from, std::string_view to) {
  std::size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

const std::string kMessage = "Subject: hello\r\nFrom: <a@example.com>\r\n\r\n"
                             "body\r\n.leading dot\r\n..two\r\n.\r\nlast\r\n";

} // namespace

TEST_CASE("message stream: empty message") {
  TempDir dir;
  MessageStream ms(inDir(dir, 0));
  REQUIRE(ms.finish().ok());
  CHECK(ms.size() == 0);
  CHECK_FALSE(ms.spilled()); // nothing was ever written
  CHECK(ms.headerLength() == 0);
  CHECK_FALSE(ms.bodyOffset().has_value());
  CHECK(ms.header().empty());
  CHECK(write(ms).empty());
  WriteOptions dot;
  dot.dot_stuff = true;
  dot.ending_dot = true;
  CHECK(write(ms, dot) == ".\r\n");
  CHECK(dir.entries().size() == 0);
}

TEST_CASE("message stream: in memory, written back unchanged") {
  MessageStream ms;
  appendAll(ms, kMessage, 7);
  REQUIRE(ms.finish().ok());
  CHECK_FALSE(ms.spilled());
  CHECK(ms.size() == kMessage.size());
  CHECK(ms.header().get("subject") == "hello");
  CHECK(ms.headerLength() == 39);
  REQUIRE(ms.bodyOffset().has_value());
  CHECK(*ms.bodyOffset() == 41);
  CHECK(write(ms) == kMessage);
  WriteOptions body;
  body.skip_headers = true;
  CHECK(write(ms, body) == "body\r\n.leading dot\r\n..two\r\n.\r\nlast\r\n");
}

TEST_CASE("message stream: header edits show in the output") {
  MessageStream ms;
  REQUIRE(ms.append(kMessage).ok());
  REQUIRE(ms.finish().ok());
  REQUIRE(ms.header().addLeading("Received", "from x\r\n\tby y").ok());
  CHECK(ms.header().remove("From") == 1);
  REQUIRE(ms.header().add("X-Check", "ok").ok());
  CHECK(write(ms) == "Received: from x\r\n\tby y\r\nSubject: hello\r\nX-Check: ok\r\n\r\n"
                     "body\r\n.leading dot\r\n..two\r\n.\r\nlast\r\n");
}

TEST_CASE("message stream: dot-stuffed output round-trips") {
  MessageStream ms;
  REQUIRE(ms.append(kMessage).ok());
  REQUIRE(ms.finish().ok());
  WriteOptions o;
  o.dot_stuff = true;
  std::string stuffed = write(ms, o);
  CHECK(stuffed == "Subject: hello\r\nFrom: <a@example.com>\r\n\r\n"
                   "body\r\n..leading dot\r\n...two\r\n..\r\nlast\r\n");
  CHECK(unstuff(stuffed) == kMessage);
  o.ending_dot = true;
  CHECK(write(ms, o) == stuffed + ".\r\n");
  // No line of the stuffed output is a lone dot.
  CHECK(stuffed.find("\r\n.\r\n") == std::string::npos);
}

TEST_CASE("message stream: LF line endings") {
  MessageStream ms;
  REQUIRE(ms.append(kMessage).ok());
  REQUIRE(ms.finish().ok());
  WriteOptions o;
  o.line_ending = LineEnding::Lf;
  CHECK(write(ms, o) == replaceAll(kMessage, "\r\n", "\n"));
  o.dot_stuff = true;
  o.ending_dot = true;
  CHECK(write(ms, o) == "Subject: hello\nFrom: <a@example.com>\n\n"
                        "body\n..leading dot\n...two\n..\nlast\n.\n");
}

TEST_CASE("message stream: a message without a final line ending gets one before the dot") {
  MessageStream ms;
  REQUIRE(ms.append("A: 1\r\n\r\nno newline").ok());
  REQUIRE(ms.finish().ok());
  CHECK(write(ms) == "A: 1\r\n\r\nno newline");
  WriteOptions o;
  o.ending_dot = true;
  CHECK(write(ms, o) == "A: 1\r\n\r\nno newline\r\n.\r\n");
}

TEST_CASE("message stream: no empty line means every complete line is header") {
  MessageStream ms;
  REQUIRE(ms.append("A: 1\r\nB: 2\r\n").ok());
  REQUIRE(ms.finish().ok());
  CHECK_FALSE(ms.bodyOffset().has_value());
  CHECK(ms.headerLength() == 12);
  CHECK(ms.header().get("b") == "2");
  CHECK(write(ms) == "A: 1\r\nB: 2\r\n");
  WriteOptions body;
  body.skip_headers = true;
  CHECK(write(ms, body).empty());

  MessageStream partial;
  REQUIRE(partial.append("hello\r\nworld").ok());
  REQUIRE(partial.finish().ok());
  CHECK(partial.headerLength() == 7);
  CHECK(partial.header().malformed());
  CHECK(write(partial) == "hello\r\nworld");
}

TEST_CASE("message stream: a message that starts with the empty line has no header") {
  MessageStream ms;
  REQUIRE(ms.append("\r\nA: not a header\r\n").ok());
  REQUIRE(ms.finish().ok());
  CHECK(ms.headerLength() == 0);
  CHECK(ms.bodyOffset() == 2);
  CHECK(ms.header().empty());
  CHECK(write(ms) == "\r\nA: not a header\r\n");
}

TEST_CASE("message stream: the header/body split at every append boundary") {
  for (std::size_t cut = 0; cut <= kMessage.size(); ++cut) {
    MessageStream ms;
    REQUIRE(ms.append(std::string_view(kMessage).substr(0, cut)).ok());
    REQUIRE(ms.append(std::string_view(kMessage).substr(cut)).ok());
    REQUIRE(ms.finish().ok());
    INFO("cut at ", cut);
    CHECK(ms.bodyOffset() == 41);
    CHECK(ms.headerLength() == 39);
    CHECK(write(ms) == kMessage);
  }
  // Byte by byte, and with LF-only lines.
  std::string lf = replaceAll(kMessage, "\r\n", "\n");
  MessageStream ms;
  appendAll(ms, lf, 1);
  REQUIRE(ms.finish().ok());
  CHECK(ms.headerLength() == 37);
  CHECK(ms.bodyOffset() == 38);
  CHECK(ms.header().get("from") == "<a@example.com>");
}

TEST_CASE("message stream: spill threshold") {
  TempDir dir;
  {
    MessageStream ms(inDir(dir, 10));
    REQUIRE(ms.append("0123456789").ok()); // exactly the threshold: still in memory
    CHECK_FALSE(ms.spilled());
    CHECK(dir.entries().size() == 0);
    REQUIRE(ms.append("a").ok()); // one more byte spills
    CHECK(ms.spilled());
    CHECK(dir.entries().size() == 1);
    std::string path = ms.spoolPath();
    CHECK(path.rfind(dir.str(), 0) == 0);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(ms.finish().ok());
    CHECK(write(ms) == "0123456789a");
  }
  CHECK(dir.entries().size() == 0); // unlinked with the stream

  MessageStream always(inDir(dir, 0));
  REQUIRE(always.append("x").ok());
  CHECK(always.spilled());

  MessageStream never(inDir(dir, -1));
  std::string big(3 << 20, 'n');
  REQUIRE(never.append(big).ok());
  CHECK_FALSE(never.spilled());
  CHECK(dir.entries().size() == 1); // only `always`
}

TEST_CASE("message stream: a spilled message is read back in chunks") {
  TempDir dir;
  std::string msg = "Subject: big\r\nX-A: 1\r\n\r\n";
  for (int i = 0; i < 40000; ++i) {
    msg += (i % 3 == 0) ? ".dotted line " : "plain line ";
    msg += std::to_string(i);
    msg += "\r\n";
  }
  MessageStream ms(inDir(dir, 1000));
  appendAll(ms, msg, 1500);
  REQUIRE(ms.finish().ok());
  CHECK(ms.spilled());
  CHECK(ms.header().get("x-a") == "1");
  Collected stats;
  CHECK(write(ms, {}, &stats) == msg);
  CHECK(stats.calls > 2);
  CHECK(stats.largest <= 64 * 1024);

  WriteOptions o;
  o.dot_stuff = true;
  std::string stuffed = write(ms, o);
  CHECK(unstuff(stuffed) == msg);
  CHECK(stuffed.size() == msg.size() + 13334);

  // Header edits show on a spilled message too.
  REQUIRE(ms.header().addLeading("Received", "by test").ok());
  CHECK(write(ms) == "Received: by test\r\n" + msg);
}

TEST_CASE("message stream: CRLF split across read chunks in LF mode") {
  TempDir dir;
  for (std::size_t fill = 65520; fill < 65550; ++fill) {
    std::string msg = "A: b\r\n\r\n" + std::string(fill, 'x') + "\r\n.y\r\nend\r\n";
    MessageStream ms(inDir(dir, 0));
    REQUIRE(ms.append(msg).ok());
    REQUIRE(ms.finish().ok());
    WriteOptions o;
    o.line_ending = LineEnding::Lf;
    o.dot_stuff = true;
    INFO("fill ", fill);
    CHECK(write(ms, o) == "A: b\n\n" + std::string(fill, 'x') + "\n..y\nend\n");
  }
}

TEST_CASE("message stream: a lone CR survives LF conversion") {
  MessageStream ms;
  REQUIRE(ms.append("A: 1\r\n\r\nx\ry\r\n\r").ok());
  REQUIRE(ms.finish().ok());
  WriteOptions o;
  o.line_ending = LineEnding::Lf;
  CHECK(write(ms, o) == "A: 1\n\nx\ry\n\r");
}

TEST_CASE("message stream: the header is bounded by max_header_bytes") {
  MessageStreamOptions opt;
  opt.max_header_bytes = 20;
  std::string msg = "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\nbody\r\n";
  MessageStream ms(opt);
  appendAll(ms, msg, 3);
  REQUIRE(ms.finish().ok());
  CHECK(ms.headerLength() == 18);
  CHECK_FALSE(ms.bodyOffset().has_value());
  CHECK(ms.header().get("C") == "3");
  CHECK_FALSE(ms.header().get("D").has_value());
  CHECK(write(ms) == msg);
  REQUIRE(ms.header().addLeading("Received", "x").ok());
  CHECK(write(ms) == "Received: x\r\n" + msg);

  // One endless line: no header at all, the bytes are still all there.
  MessageStream line(opt);
  std::string endless(1000, 'h');
  REQUIRE(line.append(endless).ok());
  REQUIRE(line.finish().ok());
  CHECK(line.headerLength() == 0);
  CHECK(write(line) == endless);
}

TEST_CASE("message stream: the header line cap applies") {
  MessageStreamOptions opt;
  opt.header.max_lines = 2;
  MessageStream ms(opt);
  REQUIRE(ms.append("A: 1\r\nB: 2\r\nC: 3\r\n\r\nbody\r\n").ok());
  REQUIRE(ms.finish().ok());
  CHECK(ms.header().capped());
  CHECK(ms.header().count("C") == 0);
  CHECK(write(ms) == "A: 1\r\nB: 2\r\nC: 3\r\n\r\nbody\r\n");
}

TEST_CASE("message stream: misuse and I/O errors are values") {
  MessageStream ms;
  REQUIRE(ms.append("A: 1\r\n").ok());
  ByteSink discard = [](std::string_view) -> Result<std::monostate> { return std::monostate{}; };
  CHECK_FALSE(ms.writeTo(discard).ok()); // before finish
  REQUIRE(ms.finish().ok());
  CHECK(ms.finish().ok()); // harmless twice
  CHECK_FALSE(ms.append("more").ok());

  // A sink error stops the write and comes back.
  int calls = 0;
  ByteSink failing = [&](std::string_view) -> Result<std::monostate> {
    ++calls;
    return Error{"disk full"};
  };
  auto r = ms.writeTo(failing);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "disk full");
  CHECK(calls == 1);

  // A spool directory that does not exist fails at the spill, and the stream stays failed.
  MessageStreamOptions bad;
  bad.spool_after = 4;
  bad.spool_dir = "/nonexistent/upesi/spool";
  MessageStream failed(bad);
  REQUIRE(failed.append("1234").ok());
  auto spill = failed.append("5");
  REQUIRE_FALSE(spill.ok());
  CHECK(spill.error().find("/nonexistent/upesi/spool") != std::string::npos);
  CHECK_FALSE(failed.append("6").ok());
  CHECK_FALSE(failed.finish().ok());
}

TEST_CASE("message stream: moving keeps one owner of the spill file") {
  TempDir dir;
  {
    MessageStream a(inDir(dir, 0));
    REQUIRE(a.append("A: 1\r\n\r\nbody\r\n").ok());
    std::string path = a.spoolPath();
    MessageStream b(std::move(a));
    CHECK(b.spoolPath() == path);
    CHECK(dir.entries().size() == 1);
    MessageStream c(inDir(dir, 0));
    REQUIRE(c.append("other\r\n").ok());
    CHECK(dir.entries().size() == 2);
    c = std::move(b); // c's old file goes
    CHECK(dir.entries().size() == 1);
    REQUIRE(c.finish().ok());
    CHECK(write(c) == "A: 1\r\n\r\nbody\r\n");
  }
  CHECK(dir.entries().size() == 0);
}
