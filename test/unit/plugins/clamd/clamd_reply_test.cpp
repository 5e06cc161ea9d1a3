#include "plugins/clamd/clamd_reply.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace upesi::plugins::clamd;

TEST_CASE("clamd reply: clean, found, size limit, unknown") {
  auto clean = parseClamdReply(std::string("stream: OK\0", 11));
  CHECK(clean.kind == ClamdReply::Kind::Clean);

  auto found = parseClamdReply(std::string("stream: Upesi.Test.Sig.UNOFFICIAL FOUND\0", 40));
  CHECK(found.kind == ClamdReply::Kind::Found);
  CHECK(found.virus == "Upesi.Test.Sig.UNOFFICIAL");

  auto limit = parseClamdReply(std::string("INSTREAM size limit exceeded. ERROR\0", 36));
  CHECK(limit.kind == ClamdReply::Kind::SizeLimit);

  auto other = parseClamdReply("UNKNOWN COMMAND\n");
  CHECK(other.kind == ClamdReply::Kind::Unknown);
  CHECK(other.text == "UNKNOWN COMMAND");
}

TEST_CASE("clamd reply: hostile answers are unknown, control bytes dropped from the text") {
  for (const std::string& hostile :
       {std::string(), std::string(1, '\0'), std::string("stream: FOUND"),
        std::string("stream:  FOUND"), std::string("stream: two words FOUND"),
        std::string("stream: x FOUNDx"), std::string("\x1b[31mstream\x07")}) {
    auto reply = parseClamdReply(hostile);
    CHECK(reply.kind == ClamdReply::Kind::Unknown);
    for (char c : reply.text) {
      CHECK(static_cast<unsigned char>(c) >= 0x20);
    }
  }
  // The last line counts, as in Haraka.
  CHECK(parseClamdReply("stream: X FOUND\nstream: OK\n").kind == ClamdReply::Kind::Clean);
  CHECK(clamdReplyComplete(std::string("stream: OK\0", 11)));
  CHECK_FALSE(clamdReplyComplete("stream: O"));
}

TEST_CASE("clamd virus policy: classes, [reject] virus, excludes") {
  VirusPolicy policy;
  policy.enabled_classes = {"PUA", "UNOFFICIAL"};
  CHECK(decideVirus(policy, "Win.Test.EICAR_HDB-1") == VirusAction::Reject);
  CHECK(decideVirus(policy, "PUA.Win.Packer") == VirusAction::Reject);
  CHECK(decideVirus(policy, "Heuristics.Phishing.Email") == VirusAction::AcceptWithHeader);
  policy.enabled_classes.clear(); // with no class switch on, every class is refused (Haraka)
  CHECK(decideVirus(policy, "Heuristics.Phishing.Email") == VirusAction::Reject);

  policy.excludes = parseExcludes(
      {"# comment", "!*.TestSig_*", "*.UNOFFICIAL", "/^heuristics\\.phishing\\./", "/[unclosed/"});
  CHECK(policy.excludes.errors.size() == 1);
  CHECK(decideVirus(policy, "Local.Sig.UNOFFICIAL") == VirusAction::AcceptWithHeader);
  CHECK(decideVirus(policy, "Local.TestSig_1.UNOFFICIAL") == VirusAction::Reject);
  CHECK(decideVirus(policy, "Heuristics.Phishing.Email") == VirusAction::AcceptWithHeader);
  CHECK(decideVirus(policy, "Local.Sigxunofficial") == VirusAction::Reject); // '.' is literal

  policy.reject_virus = false;
  CHECK(decideVirus(policy, "Win.Test.EICAR_HDB-1") == VirusAction::Accept);
}
