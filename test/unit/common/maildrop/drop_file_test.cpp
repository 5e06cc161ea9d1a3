#include "common/maildrop/drop_file.hpp"

#include <doctest/doctest.h>

using upesi::maildrop::Envelope;
using upesi::maildrop::parseDropFile;
using upesi::maildrop::serializeEnvelope;

TEST_CASE("drop file: the envelope written is the envelope read, the message after it") {
  Envelope envelope{1000, "alice", "alice", "Alice Liddell", {"bob@example.org", "root"}};
  auto block = serializeEnvelope(envelope);
  REQUIRE(block.ok());
  CHECK(*block == "UPESI-DROP 1\nuid 1000\nuser alice\nfrom alice\nname Alice Liddell\n"
                  "to bob@example.org\nto root\n\n");
  const std::string file = *block + "Subject: hi\n\nbody\n";
  auto parsed = parseDropFile(file);
  REQUIRE(parsed.ok());
  CHECK(parsed->envelope == envelope);
  CHECK(file.substr(parsed->message_offset) == "Subject: hi\n\nbody\n");
}

TEST_CASE("drop file: the null sender is an empty from") {
  Envelope envelope{0, "root", "", "", {"postmaster"}};
  auto block = serializeEnvelope(envelope);
  REQUIRE(block.ok());
  auto parsed = parseDropFile(*block);
  REQUIRE(parsed.ok());
  CHECK(parsed->envelope.from.empty());
  CHECK(parsed->message_offset == block->size());
}

TEST_CASE("drop file: fields that would break the format are refused when written") {
  CHECK_FALSE(serializeEnvelope(Envelope{1, "u", "a\nto evil@example.org", "", {"b"}}).ok());
  CHECK_FALSE(serializeEnvelope(Envelope{1, "u", "a", "", {}}).ok());
  CHECK_FALSE(serializeEnvelope(Envelope{1, "u", "a", "", {""}}).ok());
  CHECK_FALSE(serializeEnvelope(Envelope{1, "u", "a", std::string(2000, 'x'), {"b"}}).ok());
}

TEST_CASE("drop file: what is not one is refused with the reason") {
  CHECK(parseDropFile("From: x\n\nhello\n").error().find("not a drop file") != std::string::npos);
  CHECK(parseDropFile("UPESI-DROP 1\nuid 1\nuser u\nfrom u\nto a").error().find("no end") !=
        std::string::npos);
  CHECK(parseDropFile("UPESI-DROP 1\nuid x\nuser u\nfrom u\nto a\n\n").error() ==
        "line 2: uid is not a number");
  CHECK(parseDropFile("UPESI-DROP 1\nuid 1\nuser u\nfrom u\n\n").error() ==
        "the envelope has no recipients");
  CHECK(parseDropFile("UPESI-DROP 1\nuid 1\nfrom u\nto a\n\n").error() ==
        "the envelope lacks uid, user or from");
  CHECK(parseDropFile("UPESI-DROP 1\nuid 1\nuser u\nfrom u\nbcc a\n\n").error() ==
        "line 5: unknown field \"bcc\"");
}

TEST_CASE("drop file: finished and temporary names") {
  CHECK(upesi::maildrop::isFinishedName("d.1700000000.42.00ff"));
  CHECK_FALSE(upesi::maildrop::isFinishedName("t.42.00ff"));
  CHECK(upesi::maildrop::isTemporaryName("t.42.00ff"));
  CHECK_FALSE(upesi::maildrop::isFinishedName("d."));
  CHECK_FALSE(upesi::maildrop::isFinishedName("failed"));
}
