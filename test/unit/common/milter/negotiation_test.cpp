#include "common/milter/negotiation.hpp"

#include <doctest/doctest.h>

using namespace upesi::milter;

TEST_CASE("milter negotiation: what each version offers") {
  CHECK_FALSE(offerFor(1));
  CHECK_FALSE(offerFor(7));
  auto v2 = offerFor(2);
  REQUIRE(v2);
  CHECK(v2->steps == 0x7f);
  CHECK(v2->actions == action::All);
  CHECK(offerFor(3)->steps == (0x7f | step::NoUnknown));
  CHECK(offerFor(4)->steps == (0x7f | step::NoUnknown | step::NoData));
  CHECK(offerFor(5)->steps == offerFor(4)->steps);
  auto v6 = offerFor(6);
  CHECK((v6->steps & step::NoReplyMask) == step::NoReplyMask);
  CHECK((v6->steps & step::Skip) != 0);
  CHECK((v6->steps & step::HeaderLeadingSpace) != 0);
}

TEST_CASE("milter negotiation: the filter's version and actions must fit ours") {
  OptNegReply reply;
  reply.version = 6;
  reply.actions = action::AddHeaders | action::ChangeFrom;
  CHECK(negotiate(*offerFor(6), reply));
  reply.version = 1;
  CHECK_FALSE(negotiate(*offerFor(6), reply));
  reply.version = 6;
  CHECK_FALSE(negotiate(*offerFor(4), reply)); // a newer filter than we offered
  reply.version = 2;
  CHECK(negotiate(*offerFor(6), reply)); // an older filter is fine
  reply.actions = 1u << 12;
  CHECK_FALSE(negotiate(*offerFor(6), reply));
}

TEST_CASE("milter negotiation: skipped and unanswered steps") {
  OptNegReply reply;
  reply.version = 6;
  reply.steps = step::NoHelo | step::NrRcpt | step::NrHeader | step::HeaderLeadingSpace;
  auto six = negotiate(*offerFor(6), reply);
  REQUIRE(six);
  CHECK(six->sends(step::NoConnect));
  CHECK_FALSE(six->sends(step::NoHelo));
  CHECK(six->sends(step::NoData));
  CHECK(six->sends(step::NoUnknown));
  CHECK(six->replies(step::NrMail));
  CHECK_FALSE(six->replies(step::NrRcpt));
  CHECK_FALSE(six->replies(step::NrHeader));
  CHECK(six->leadingSpace());

  // Protocol 2 defines neither DATA nor UNKNOWN, nor any no-reply step.
  reply.version = 2;
  auto two = negotiate(*offerFor(2), reply);
  REQUIRE(two);
  CHECK_FALSE(two->sends(step::NoData));
  CHECK_FALSE(two->sends(step::NoUnknown));
  CHECK(two->sends(step::NoMail));
  CHECK(two->replies(step::NrRcpt));
  CHECK_FALSE(two->leadingSpace());
}

TEST_CASE("milter negotiation: macro lists from SETSYMLIST") {
  OptNegReply reply;
  reply.version = 6;
  reply.actions = action::SetSymList;
  reply.macros[static_cast<std::size_t>(MacroStage::Mail)] = "i {auth_type}, {mail_addr}";
  auto negotiated = negotiate(*offerFor(6), reply);
  REQUIRE(negotiated);
  const auto& mail = negotiated->macros[static_cast<std::size_t>(MacroStage::Mail)];
  REQUIRE(mail);
  CHECK(*mail == std::vector<std::string>{"i", "{auth_type}", "{mail_addr}"});
  CHECK_FALSE(negotiated->macros[0]);
  CHECK(splitMacroNames("  ").empty());
}
