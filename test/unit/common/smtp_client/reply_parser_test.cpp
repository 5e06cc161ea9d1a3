#include "common/smtp_client/reply_parser.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

using upesi::smtp_client::enhancedCodeLength;
using upesi::smtp_client::ReplyLimits;
using upesi::smtp_client::ReplyParser;
using upesi::smtp_client::ServerReply;

namespace {

using namespace std::string_literals;

struct Parsed {
  std::vector<ServerReply> replies;
  std::string error; // empty: no protocol error
};

Parsed parseAll(std::string_view bytes, ReplyLimits limits = {}) {
  ReplyParser parser(limits);
  Parsed p;
  auto r = parser.feed(bytes, p.replies);
  if (!r) {
    p.error = r.error();
  }
  return p;
}

// Feeds `bytes` in pieces cut at the given offsets.
Parsed parseSplit(std::string_view bytes, const std::vector<std::size_t>& cuts) {
  ReplyParser parser;
  Parsed p;
  std::size_t start = 0;
  auto feed = [&](std::size_t end) {
    if (!p.error.empty()) {
      return;
    }
    auto r = parser.feed(bytes.substr(start, end - start), p.replies);
    if (!r) {
      p.error = r.error();
    }
    start = end;
  };
  for (std::size_t cut : cuts) {
    feed(cut);
  }
  feed(bytes.size());
  return p;
}

bool sameReplies(const std::vector<ServerReply>& a, const std::vector<ServerReply>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].code != b[i].code || a[i].enhanced != b[i].enhanced || a[i].lines != b[i].lines) {
      return false;
    }
  }
  return true;
}

} // namespace

TEST_CASE("smtp_client reply parser: single and multi-line replies") {
  auto p = parseAll("220 mx.example.org ESMTP ready\r\n");
  REQUIRE(p.error.empty());
  REQUIRE(p.replies.size() == 1);
  CHECK(p.replies[0].code == 220);
  CHECK(p.replies[0].enhanced.empty());
  CHECK(p.replies[0].lines == std::vector<std::string>{"mx.example.org ESMTP ready"});

  p = parseAll("250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n");
  REQUIRE(p.error.empty());
  REQUIRE(p.replies.size() == 1);
  CHECK(p.replies[0].lines ==
        std::vector<std::string>{"mx.example.org", "PIPELINING", "SIZE 1000", "8BITMIME"});

  // Several replies in one read (a pipelined group), and a bare code as the last line.
  p = parseAll("250 2.1.0 ok\r\n550 5.1.1 no such user\r\n354\r\n");
  REQUIRE(p.error.empty());
  REQUIRE(p.replies.size() == 3);
  CHECK(p.replies[0].enhanced == "2.1.0");
  CHECK(p.replies[0].lines == std::vector<std::string>{"ok"});
  CHECK(p.replies[1].code == 550);
  CHECK(p.replies[1].enhanced == "5.1.1");
  CHECK(p.replies[1].text() == "no such user");
  CHECK(p.replies[1].describe() == "550 5.1.1 no such user");
  CHECK(p.replies[1].permanent());
  CHECK(p.replies[2].code == 354);
  CHECK(p.replies[2].lines == std::vector<std::string>{""});
  CHECK(p.replies[2].positive());
}

TEST_CASE("smtp_client reply parser: enhanced status codes") {
  auto p = parseAll("550-5.1.1 The email account\r\n550-5.1.1 does not exist.\r\n"
                    "550 5.1.1 Try again\r\n");
  REQUIRE(p.replies.size() == 1);
  CHECK(p.replies[0].enhanced == "5.1.1");
  CHECK(p.replies[0].lines ==
        std::vector<std::string>{"The email account", "does not exist.", "Try again"});

  // The class must match the reply's first digit; otherwise it is plain text.
  p = parseAll("550 2.1.1 odd\r\n");
  CHECK(p.replies[0].enhanced.empty());
  CHECK(p.replies[0].lines[0] == "2.1.1 odd");

  // Not a code: too many digits, missing parts, no space after.
  for (auto text : {"450 4.1234.1 x\r\n", "450 4.1 x\r\n", "450 4.1.1x\r\n", "450 4..1 x\r\n"}) {
    p = parseAll(text);
    REQUIRE(p.replies.size() == 1);
    CHECK(p.replies[0].enhanced.empty());
  }
  p = parseAll("452 4.5.3\r\n");
  CHECK(p.replies[0].enhanced == "4.5.3");
  CHECK(p.replies[0].lines[0].empty());

  CHECK(enhancedCodeLength("5.7.1 no") == 5);
  CHECK(enhancedCodeLength("2.0.0") == 5);
  CHECK(enhancedCodeLength("4.123.456 x") == 9);
  CHECK(enhancedCodeLength("3.1.1 x") == 0);
  CHECK(enhancedCodeLength("") == 0);
}

TEST_CASE("smtp_client reply parser: line ends") {
  auto p = parseAll("250-a\n250-b\r\n250 c\n");
  REQUIRE(p.error.empty());
  REQUIRE(p.replies.size() == 1);
  CHECK(p.replies[0].lines == std::vector<std::string>{"a", "b", "c"});

  // A CR inside a line is not a line end; it is cleaned out of the text.
  p = parseAll("250 a\rb\r\n");
  REQUIRE(p.replies.size() == 1);
  CHECK(p.replies[0].lines[0] == "a?b");

  // Nothing complete yet.
  ReplyParser parser;
  std::vector<ServerReply> out;
  CHECK(parser.feed("250-first\r\n250 sec", out).value() == 0);
  CHECK(out.empty());
  CHECK(parser.midReply());
  CHECK(parser.feed("ond\r\n", out).value() == 1);
  CHECK_FALSE(parser.midReply());
  REQUIRE(out.size() == 1);
  CHECK(out[0].lines == std::vector<std::string>{"first", "second"});
}

TEST_CASE("smtp_client reply parser: every split point gives the same replies") {
  const std::string stream = "220 mx ESMTP\r\n250-mx hello\r\n250-PIPELINING\n250 SIZE 10\r\n"
                             "250 2.1.0 ok\r\n550-5.1.1 no\r\n550 5.1.1 such user\r\n354 go\r\n";
  auto whole = parseAll(stream);
  REQUIRE(whole.error.empty());
  REQUIRE(whole.replies.size() == 5);
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    auto p = parseSplit(stream, {i});
    CHECK_MESSAGE(p.error.empty(), "split at ", i);
    CHECK_MESSAGE(sameReplies(p.replies, whole.replies), "split at ", i);
    for (std::size_t j = i; j <= stream.size(); j += 7) {
      auto q = parseSplit(stream, {i, j});
      CHECK_MESSAGE(sameReplies(q.replies, whole.replies), "split at ", i, " and ", j);
    }
  }
  // One byte at a time.
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < stream.size(); ++i) {
    every.push_back(i);
  }
  CHECK(sameReplies(parseSplit(stream, every).replies, whole.replies));
}

TEST_CASE("smtp_client reply parser: malformed lines are protocol errors") {
  const std::vector<std::string> bad = {
      "25 short\r\n",         "\r\n",
      "abc hello\r\n",        "2x0 ok\r\n",
      "2500 ok\r\n",          "250x ok\r\n",
      "250_ok\r\n",           "150 ok\r\n",
      "650 ok\r\n",           "099 ok\r\n",
      " 250 ok\r\n",          "250\tok\r\n",
      "\0\x30\x30 ok\r\n"s,   "2\0\x30 ok\r\n"s,
      "HTTP/1.1 400 Bad\r\n", "\x16\x03\x01\x02\r\n",
  };
  for (const auto& text : bad) {
    auto p = parseAll(text);
    CHECK_MESSAGE(!p.error.empty(), "accepted: ", text);
    CHECK(p.replies.empty());
  }
  auto p = parseAll("250-a\r\n251 b\r\n");
  CHECK(p.error == "reply code changed from 250 to 251 within one reply");
  p = parseAll("250-a\r\n550-b\r\n550 c\r\n");
  CHECK(!p.error.empty());

  // Replies before the bad line are still delivered; after it, nothing is.
  ReplyParser parser;
  std::vector<ServerReply> out;
  CHECK_FALSE(parser.feed("220 hi\r\nbogus\r\n250 ok\r\n", out).ok());
  CHECK(out.size() == 1);
  CHECK(parser.failed());
  CHECK_FALSE(parser.feed("250 ok\r\n", out).ok());
  CHECK(out.size() == 1);
}

TEST_CASE("smtp_client reply parser: NULs and control characters in the text") {
  auto p = parseAll("250 a\0b\x01\x7f\tc\r\n"s);
  REQUIRE(p.error.empty());
  REQUIRE(p.replies.size() == 1);
  CHECK(p.replies[0].lines[0] == "a?b??\tc");
  // 8-bit text is kept as it is (servers send UTF-8 greetings).
  p = parseAll("220 h\xc3\xa9llo\r\n");
  CHECK(p.replies[0].lines[0] == "h\xc3\xa9llo");
}

TEST_CASE("smtp_client reply parser: bounded lines and replies") {
  ReplyLimits limits{.max_line = 100, .max_lines = 5};
  std::string exact = "250 " + std::string(96, 'x') + "\r\n";
  CHECK(parseAll(exact, limits).error.empty());
  std::string longer = "250 " + std::string(97, 'x') + "\r\n";
  CHECK(parseAll(longer, limits).error == "reply line longer than 100 bytes");

  // A huge line with no end is refused as soon as it passes the bound, not buffered forever.
  ReplyParser parser(limits);
  std::vector<ServerReply> out;
  CHECK(parser.feed("250 " + std::string(90, 'y'), out).ok());
  CHECK_FALSE(parser.feed(std::string(20, 'y'), out).ok());

  // A huge line in one read, with the default limits.
  auto huge = "250 " + std::string(1 << 20, 'z') + "\r\n";
  CHECK(parseAll(huge).error == "reply line longer than 4096 bytes");

  std::string five = "250-a\r\n250-a\r\n250-a\r\n250-a\r\n250 a\r\n";
  CHECK(parseAll(five, limits).replies.size() == 1);
  std::string six = "250-a\r\n" + five;
  CHECK(parseAll(six, limits).error == "reply longer than 5 lines");
  std::string endless;
  for (int i = 0; i < 2000; ++i) {
    endless += "250-more\r\n";
  }
  CHECK(parseAll(endless).error == "reply longer than 1000 lines");
}

TEST_CASE("smtp_client reply parser: describe is bounded") {
  ServerReply r;
  r.code = 550;
  r.lines = {"a", "b", "c", "d", "e", "f"};
  CHECK(r.describe() == "550 a b c d ...");
  r.lines = {std::string(2000, 'x')};
  CHECK(r.describe().size() <= 520);
}

TEST_CASE("smtp_client reply parser: random garbage never crashes and stays bounded") {
  std::mt19937 rng(12345);
  const std::string alphabet = "250- \r\n\0x5.1"s;
  for (int round = 0; round < 2000; ++round) {
    std::string bytes;
    auto n = rng() % 200;
    for (unsigned i = 0; i < n; ++i) {
      bytes +=
          (rng() % 4 == 0) ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    }
    ReplyParser parser({.max_line = 50, .max_lines = 4});
    std::vector<ServerReply> out;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
      std::size_t len = 1 + rng() % 17;
      auto r = parser.feed(std::string_view(bytes).substr(pos, len), out);
      pos += len;
      if (!r) {
        break;
      }
    }
    for (const auto& reply : out) {
      CHECK(reply.code >= 200);
      CHECK(reply.code <= 599);
      CHECK(!reply.lines.empty());
      CHECK(reply.lines.size() <= 4);
      for (const auto& line : reply.lines) {
        CHECK(line.size() <= 50);
        CHECK(line.find('\0') == std::string::npos);
        CHECK(line.find('\n') == std::string::npos);
      }
    }
  }
}
