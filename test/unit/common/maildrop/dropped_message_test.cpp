#include "common/maildrop/drop_file.hpp"
#include "common/maildrop/dropped_message.hpp"

#include <doctest/doctest.h>

using upesi::maildrop::Envelope;
using upesi::maildrop::readDroppedMessage;
using upesi::maildrop::serializeEnvelope;
using upesi::maildrop::splitHeader;

namespace {

std::string dropFile(const Envelope& envelope, const std::string& message) {
  return *serializeEnvelope(envelope) + message;
}

} // namespace

TEST_CASE("dropped message: unqualified addresses get this server's domain") {
  auto m = readDroppedMessage(
      dropFile({0, "root", "root", "", {"root", "bob@example.org"}}, "Subject: cron\n\nout\n"),
      "host.example.net", 1000);
  REQUIRE(m.ok());
  CHECK(m->from.address() == "root@host.example.net");
  REQUIRE(m->to.size() == 2);
  CHECK(m->to[0].address() == "root@host.example.net");
  CHECK(m->to[1].address() == "bob@example.org");
  CHECK(m->notes["local_submission"]["uid"] == 0);
  CHECK(m->notes["local_submission"]["user"] == "root");
}

TEST_CASE("dropped message: a From field is added when missing, with -F's name") {
  auto m = readDroppedMessage(
      dropFile({1000, "alice", "alice", "Cron Daemon", {"alice"}}, "Subject: x\n\nbody\n"),
      "host.example.net", 1000);
  REQUIRE(m.ok());
  CHECK(m->message.find("From: Cron Daemon <alice@host.example.net>\r\n") != std::string::npos);
  CHECK(m->message.starts_with("Received: by host.example.net (Upesi sendmail, from userid "
                               "1000);"));
  CHECK(m->message.ends_with("\r\nbody\n"));
  auto quoted = readDroppedMessage(
      dropFile({1000, "alice", "alice", "Liddell, A.", {"alice"}}, "Subject: x\n\nbody\n"),
      "h.example", 1000);
  REQUIRE(quoted.ok());
  CHECK(quoted->message.find("From: \"Liddell, A.\" <alice@h.example>\r\n") != std::string::npos);
  auto kept = readDroppedMessage(
      dropFile({1000, "alice", "alice", "", {"alice"}}, "From: Al <al@example.org>\n\nbody\n"),
      "h.example", 1000);
  REQUIRE(kept.ok());
  CHECK(kept->message.find("From: Al <al@example.org>") != std::string::npos);
  CHECK(kept->message.find("alice@h.example>") == std::string::npos);
}

TEST_CASE("dropped message: the null sender, bad recipients left out, none refused") {
  auto m = readDroppedMessage(
      dropFile({0, "root", "<>", "", {"a b c", "ok@example.org"}}, "Subject: x\n\nbody\n"),
      "h.example", 1000);
  REQUIRE(m.ok());
  CHECK(m->from.is_null);
  REQUIRE(m->to.size() == 1);
  CHECK(m->bad_recipients.size() == 1);
  CHECK_FALSE(
      readDroppedMessage(dropFile({0, "root", "root", "", {"a b c"}}, "x\n"), "h.example", 1000)
          .ok());
  auto big = readDroppedMessage(dropFile({0, "root", "root", "", {"root"}}, std::string(2000, 'x')),
                                "h.example", 1000);
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().find("over smtp.ini max_message_size") != std::string::npos);
}

TEST_CASE("dropped message: a body without a header gets one, parted by an empty line") {
  auto m = readDroppedMessage(dropFile({0, "root", "root", "", {"root"}}, "hello world\n"),
                              "h.example", 1000);
  REQUIRE(m.ok());
  CHECK(m->message.find("From: root@h.example\r\n\r\nhello world\n") != std::string::npos);
}

TEST_CASE("header split: fields and folds, then the body") {
  auto s = splitHeader("A: 1\n  folded\nB: 2\r\n\r\nbody\n");
  CHECK(s.header == "A: 1\n  folded\nB: 2\r\n");
  CHECK(s.body == "body\n");
  CHECK(s.has_separator);
  auto none = splitHeader("not a field\nA: 1\n");
  CHECK(none.header.empty());
  CHECK(none.body == "not a field\nA: 1\n");
  CHECK_FALSE(none.has_separator);
}
