#include "worker/smtp/deny_replies.hpp"

#include <doctest/doctest.h>

using upesi::Hook;
using upesi::smtp::denyRepliesFor;

namespace {

void checkCodes(Hook hook, int deny, std::string_view deny_enhanced, int soft,
                std::string_view soft_enhanced) {
  CAPTURE(upesi::HookNames[static_cast<std::size_t>(hook)]);
  auto codes = denyRepliesFor(hook);
  REQUIRE(codes.has_value());
  CHECK(codes->deny_code == deny);
  CHECK(codes->deny_enhanced == deny_enhanced);
  CHECK(codes->soft_code == soft);
  CHECK(codes->soft_enhanced == soft_enhanced);
}

} // namespace

TEST_CASE("deny replies: each command hook refuses with Haraka's codes") {
  checkCodes(Hook::Helo, 550, "5.7.1", 450, "4.7.1");
  checkCodes(Hook::Ehlo, 550, "5.7.1", 450, "4.7.1");
  checkCodes(Hook::Mail, 550, "5.7.1", 450, "4.7.1");
  checkCodes(Hook::Rcpt, 550, "5.7.1", 450, "4.7.1");
  checkCodes(Hook::RcptOk, 550, "5.7.1", 450, "4.7.1");
  checkCodes(Hook::Data, 554, "5.7.1", 451, "4.7.1");
  checkCodes(Hook::DataPost, 550, "5.7.1", 450, "4.7.1");
  checkCodes(Hook::Queue, 550, "5.7.1", 451, "4.3.0");
  checkCodes(Hook::QueueOutbound, 550, "5.7.1", 451, "4.3.0");
  checkCodes(Hook::Vrfy, 550, "5.1.1", 450, "4.1.1");
  checkCodes(Hook::Noop, 500, "5.5.1", 450, "4.7.1");
  checkCodes(Hook::UnrecognizedCommand, 500, "5.5.1", 450, "4.5.1");
}

TEST_CASE("deny replies: hooks that refuse by their own rules, or cannot refuse, have none") {
  for (Hook hook : {Hook::Connect, Hook::LookupRdns, Hook::ConnectInit, Hook::Disconnect,
                    Hook::QueueOk, Hook::Quit, Hook::Rset, Hook::Capabilities, Hook::GetMx}) {
    CAPTURE(upesi::HookNames[static_cast<std::size_t>(hook)]);
    CHECK_FALSE(denyRepliesFor(hook).has_value());
  }
}

TEST_CASE("deny replies: a plugin's text may carry its own code, as Haraka's DSN does") {
  using upesi::smtp::pluginRefusal;
  auto greylisted = pluginRefusal(450, "4.7.1", {"451 4.7.1 Greylisted, try again later"});
  CHECK(greylisted.code == 451);
  CHECK(greylisted.enhanced == "4.7.1");
  CHECK(greylisted.lines == std::vector<std::string>{"Greylisted, try again later"});
  auto hard = pluginRefusal(550, "5.7.1", {"554 5.7.9 Policy", "second line"});
  CHECK(hard.code == 554);
  CHECK(hard.enhanced == "5.7.9");
  CHECK(hard.lines == std::vector<std::string>{"Policy", "second line"});
  // Another class, no enhanced code, or plain words keep the hook's codes.
  for (const char* text :
       {"550 5.7.1 not for a soft refusal", "451 temporarily", "451 5.7.1 classes differ",
        "4511 4.7.1 too long", "Greylisted, try again later", "451 4.7.1"}) {
    INFO(text);
    auto kept = pluginRefusal(450, "4.7.1", {text});
    CHECK(kept.code == 450);
    CHECK(kept.lines == std::vector<std::string>{text});
  }
}
