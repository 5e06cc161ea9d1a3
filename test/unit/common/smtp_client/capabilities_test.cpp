// parseCapabilities: an EHLO reply as servers write it, and as a hostile one might.
#include "common/smtp_client/capabilities.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

using upesi::smtp_client::Capabilities;
using upesi::smtp_client::parseCapabilities;
using upesi::smtp_client::ServerReply;

namespace {

// The greeting line, then the keyword lines.
Capabilities parse(std::vector<std::string> keyword_lines) {
  ServerReply reply;
  reply.code = 250;
  reply.lines.push_back("mx.example.test hello");
  for (auto& line : keyword_lines) {
    reply.lines.push_back(std::move(line));
  }
  return parseCapabilities(reply);
}

using Mechanisms = std::vector<std::string>;

} // namespace

TEST_CASE("capabilities: every extension we use, and the lines as sent") {
  auto caps = parse({"PIPELINING", "SIZE 10240000", "8BITMIME", "SMTPUTF8", "STARTTLS",
                     "ENHANCEDSTATUSCODES", "DSN", "REQUIRETLS", "MT-PRIORITY MIXER",
                     "AUTH PLAIN LOGIN CRAM-MD5", "CHUNKING"});
  CHECK(caps.esmtp);
  CHECK(caps.pipelining);
  CHECK(caps.size);
  CHECK(caps.size_limit == 10240000);
  CHECK(caps.eight_bit_mime);
  CHECK(caps.smtputf8);
  CHECK(caps.starttls);
  CHECK(caps.enhanced_status_codes);
  CHECK(caps.dsn);
  CHECK(caps.requiretls);
  CHECK(caps.mt_priority);
  CHECK(caps.auth == Mechanisms{"PLAIN", "LOGIN", "CRAM-MD5"});
  CHECK(caps.extensions.size() == 11);
  CHECK(caps.extensions.front() == "PIPELINING");
  CHECK(caps.extensions.back() == "CHUNKING"); // unknown: listed, nothing more
}

TEST_CASE("capabilities: a greeting alone is ESMTP with nothing offered") {
  ServerReply reply{.code = 250, .enhanced = {}, .lines = {"PIPELINING"}};
  auto caps = parseCapabilities(reply);
  CHECK(caps.esmtp);
  CHECK_FALSE(caps.pipelining); // the first line is the greeting, whatever it says
  CHECK(caps.extensions.empty());

  auto none = parseCapabilities(ServerReply{.code = 250, .enhanced = {}, .lines = {}});
  CHECK(none.esmtp);
  CHECK(none.extensions.empty());
}

TEST_CASE("capabilities: keywords in any case, the lines kept as sent") {
  auto caps = parse({"pipelining", "Size 2048", "starttls", "auth plain Login", "dSn"});
  CHECK(caps.pipelining);
  CHECK(caps.size_limit == 2048);
  CHECK(caps.starttls);
  CHECK(caps.dsn);
  CHECK(caps.auth == Mechanisms{"PLAIN", "LOGIN"});
  CHECK(caps.extensions[0] == "pipelining");
  CHECK(caps.extensions[3] == "auth plain Login");
}

TEST_CASE("capabilities: a keyword is the whole word before a space or '='") {
  auto caps = parse(
      {"PIPELININGX", "STARTTLS-NOT", " 8BITMIME", "DSN\tyes", "REQUIRETLS now", "SIZE=4096"});
  CHECK_FALSE(caps.pipelining);
  CHECK_FALSE(caps.starttls);
  CHECK_FALSE(caps.eight_bit_mime); // the keyword is empty
  CHECK_FALSE(caps.dsn);            // a tab separates nothing
  CHECK(caps.requiretls);           // arguments we do not need are ignored
  CHECK(caps.size_limit == 4096);
  CHECK(caps.extensions.size() == 6);
}

TEST_CASE("capabilities: SIZE without a limit we can read is SIZE without a limit") {
  struct Case {
    const char* line;
    std::uint64_t limit;
  };
  const Case cases[] = {
      {"SIZE", 0},
      {"SIZE ", 0},
      {"SIZE 0", 0},
      {"SIZE 00001000", 1000},
      {"SIZE 10000000000000000000", 10000000000000000000ULL}, // large, and fits
      {"SIZE 18446744073709551615", 0},                       // at the edge: not trusted
      {"SIZE 99999999999999999999999999", 0},                 // overflows
      {"SIZE -1", 0},
      {"SIZE +1000", 0},
      {"SIZE 10M", 0},
      {"SIZE 1 000", 0},
      {"SIZE 1000 ", 0},
      {"SIZE 0x400", 0},
      {"SIZE \xef\xbc\x91", 0}, // a full-width digit
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    auto caps = parse({c.line});
    CHECK(caps.size);
    CHECK(caps.size_limit == c.limit);
  }
}

TEST_CASE("capabilities: a keyword said twice") {
  SUBCASE("the last SIZE counts") {
    CHECK(parse({"SIZE 1000", "SIZE 2000"}).size_limit == 2000);
    CHECK(parse({"SIZE 1000", "SIZE lots"}).size_limit == 0);
  }
  SUBCASE("AUTH lists merge, each mechanism once, in the server's order") {
    auto caps = parse({"AUTH=LOGIN", "AUTH LOGIN PLAIN", "AUTH plain CRAM-MD5"});
    CHECK(caps.auth == Mechanisms{"LOGIN", "PLAIN", "CRAM-MD5"});
  }
  SUBCASE("flags stay set") {
    auto caps = parse({"PIPELINING", "PIPELINING"});
    CHECK(caps.pipelining);
    CHECK(caps.extensions.size() == 2);
  }
}

TEST_CASE("capabilities: bad AUTH lists") {
  CHECK(parse({"AUTH"}).auth.empty());
  CHECK(parse({"AUTH "}).auth.empty());
  CHECK(parse({"AUTH="}).auth.empty());
  CHECK(parse({"AUTH    "}).auth.empty());
  CHECK(parse({"AUTH  PLAIN   plain Plain "}).auth == Mechanisms{"PLAIN"});
  // Names we do not speak are listed; choosing among them is the SASL client's part.
  CHECK(parse({"AUTH X-OAUTH2 GSSAPI"}).auth == Mechanisms{"X-OAUTH2", "GSSAPI"});
  CHECK(parse({"AUTH PLAIN,LOGIN"}).auth == Mechanisms{"PLAIN,LOGIN"});
  CHECK(parse({"AUTH\tPLAIN"}).auth.empty()); // "AUTH\tPLAIN" is no keyword we know
}

TEST_CASE("capabilities: empty and odd lines are listed and offer nothing") {
  auto caps = parse({"", " ", "=", "\xff\xfe", std::string(4096, 'A')});
  CHECK(caps.extensions.size() == 5);
  CHECK_FALSE(caps.pipelining);
  CHECK_FALSE(caps.size);
  CHECK(caps.auth.empty());
}
