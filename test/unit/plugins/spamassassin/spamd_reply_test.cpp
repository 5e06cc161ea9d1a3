#include "plugins/spamassassin/spamd_reply.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace upesi::plugins::spamassassin;

namespace {
// What spamd 4.0 answers HEADERS for GTUBE, the Status field folded as SpamAssassin folds it.
const std::string Gtube =
    "SPAMD/1.1 0 EX_OK\r\n"
    "Content-length: 400\r\n"
    "Spam: True ; 1000.0 / 5.0\r\n"
    "\r\n"
    "Received: from x by y\r\n"
    "X-Spam-Checker-Version: SpamAssassin 4.0.1 (2024-03-26) on mx\r\n"
    "X-Spam-Flag: YES\r\n"
    "X-Spam-Level: **************************************************\r\n"
    "X-Spam-Status: Yes, score=1000.0 required=5.0 tests=GTUBE,\r\n"
    "\tNO_RECEIVED,NO_RELAYS autolearn=no autolearn_force=no version=4.0.1\r\n"
    "Subject: test\r\n"
    "\r\n";
} // namespace

TEST_CASE("spamd reply: verdict, fields and tests of a spam") {
  auto reply = parseSpamdReply(Gtube);
  CHECK(reply.line0 == "SPAMD/1.1 0 EX_OK");
  CHECK(reply.status == 0);
  CHECK(reply.message == "EX_OK");
  REQUIRE(reply.flag);
  CHECK(*reply.flag);
  CHECK(reply.score == "1000.0");
  CHECK(reply.required == "5.0");
  REQUIRE(reply.headers.size() == 4);
  CHECK(reply.headers[0].first == "Checker-Version");
  CHECK(reply.headers[1] == std::pair<std::string, std::string>{"Flag", "YES"});
  CHECK(*reply.header("Status") ==
        "Yes, score=1000.0 required=5.0 tests=GTUBE,\r\n\tNO_RECEIVED,NO_RELAYS autolearn=no "
        "autolearn_force=no version=4.0.1");
  CHECK(reply.tests == "GTUBE,NO_RECEIVED,NO_RELAYS");
  CHECK(reply.header("Subject") == nullptr);
}

TEST_CASE("spamd reply: ham, LF line ends, negative score, Tests field preferred") {
  auto reply = parseSpamdReply("SPAMD/1.1 0 EX_OK\nSpam: False ; -0.5 / 5.0\n\n"
                               "X-Spam-Status: No, score=-0.5 tests=A\nX-Spam-Tests: B, C\n");
  REQUIRE(reply.flag);
  CHECK_FALSE(*reply.flag);
  CHECK(reply.score == "-0.5");
  CHECK(reply.tests == "B,C");
}

TEST_CASE("spamd reply: an error status and hostile input give no verdict") {
  auto error = parseSpamdReply("SPAMD/1.0 76 Bad header line: (Content-length mismatch)\r\n");
  CHECK(error.status == 76);
  CHECK(error.message == "Bad header line: (Content-length mismatch)");
  CHECK_FALSE(error.flag);

  for (const std::string& hostile :
       {std::string(), std::string("\r\n\r\n"), std::string("SPAMD/"), std::string("SPAMD/1.1 x"),
        std::string("HTTP/1.1 200 OK\r\n\r\n"), std::string("SPAMD/1.1 0 EX_OK\r\nSpam: True ; "),
        std::string("SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1.0 / 5.0\r\n"),
        std::string("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1e999 / 5.0\r\n"),
        std::string("SPAMD/1.1 0 EX_OK\r\nSpam: True / 1.0 ; 5.0\r\n"),
        std::string("SPAMD/1.1 0 EX_OK\r\n\r\nX-Spam-: x\r\nX-Spam-A b: c\r\n\tfold\r\n"),
        std::string("\0\0\0", 3)}) {
    auto reply = parseSpamdReply(hostile);
    CHECK_FALSE(reply.flag);
    CHECK(reply.score.empty());
    CHECK(reply.headers.empty());
  }
}

TEST_CASE("spamd reply: a fold continues only the field before it") {
  auto reply = parseSpamdReply("SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0.0 / 5.0\r\n\r\n"
                               "X-Spam-Level: \r\nSubject: s\r\n\tfolded subject\r\n"
                               "X-Spam-Status: No\r\n X-more\r\n");
  CHECK(*reply.header("Level") == "");
  CHECK(*reply.header("Status") == "No\r\n X-more");
}

TEST_CASE("spamd reply complete: by Content-length, else not before EOF") {
  CHECK(spamdReplyComplete("SPAMD/1.1 0 EX_OK\r\nContent-length: 4\r\n\r\nabcd"));
  CHECK_FALSE(spamdReplyComplete("SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\n\r\nabcd"));
  CHECK_FALSE(spamdReplyComplete("SPAMD/1.1 0 EX_OK\r\nContent-length: 4\r\n"));
  CHECK_FALSE(spamdReplyComplete("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1.0 / 5.0\r\n\r\n"));
  CHECK_FALSE(spamdReplyComplete("SPAMD/1.1 0 EX_OK\r\nContent-length: -1\r\n\r\n"));
  CHECK_FALSE(
      spamdReplyComplete("SPAMD/1.1 0 EX_OK\r\nContent-length: 99999999999999999999999\r\n\r\n"));
  CHECK(spamdReplyComplete("SPAMD/1.1 0 EX_OK\nContent-length: 0\n\n"));
}
