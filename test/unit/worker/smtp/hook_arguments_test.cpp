#include "worker/smtp/hook_arguments.hpp"

#include <doctest/doctest.h>

using upesi::Address;
using upesi::EsmtpClaims;
using upesi::smtp::HookArguments;

namespace {

Address address(const char* local, const char* domain) {
  Address a;
  a.user = local;
  a.host = domain;
  return a;
}

} // namespace

TEST_CASE("hook arguments: the params point into values the arguments own") {
  HookArguments mail = HookArguments::envelope(
      address("s", "client.example"), {{"SIZE", "100"}, {"XFOO", "1"}}, EsmtpClaims({"XFOO"}));
  const auto& params = mail.params();
  REQUIRE(params.address != nullptr);
  CHECK(params.address == &mail.address());
  CHECK(params.address->format() == "<s@client.example>");
  REQUIRE(params.esmtp != nullptr);
  CHECK(params.esmtp->size() == 2);
  REQUIRE(params.claims != nullptr);
  CHECK(params.claims->claim("XFOO"));
  CHECK(mail.claims().unclaimed().empty()); // the claim landed in the arguments' own values
  CHECK(params.host.empty());
  CHECK(params.verb.empty());
}

TEST_CASE("hook arguments: copies share their values, which live while any copy does") {
  std::weak_ptr<const void> owner;
  const upesi::HookParams* params = nullptr;
  {
    HookArguments copy;
    {
      HookArguments command = HookArguments::command("XCLIENT", "ADDR=192.0.2.1");
      owner = command.owner();
      copy = command;
      params = &command.params();
    }
    REQUIRE_FALSE(owner.expired());
    CHECK(&copy.params() == params);
    CHECK(copy.params().verb == "XCLIENT");
    CHECK(copy.params().argument == "ADDR=192.0.2.1");
  }
  CHECK(owner.expired());
}

TEST_CASE("hook arguments: withAddress keeps the command and adds the recipient (HOOK_NEXT)") {
  HookArguments command = HookArguments::command("XRCPT", "rest");
  HookArguments ok = command.withAddress(address("r", "example.com"));
  CHECK(ok.params().verb == "XRCPT");
  CHECK(ok.params().argument == "rest");
  REQUIRE(ok.params().address != nullptr);
  CHECK(ok.params().address->format() == "<r@example.com>");
  CHECK(command.params().address == nullptr); // the original is unchanged
  CHECK(HookArguments::hello("mx.example").params().host == "mx.example");
  CHECK(HookArguments::queued("Message Queued (1)").params().message == "Message Queued (1)");
  upesi::AuthAttempt attempt;
  attempt.user = "alice";
  auto auth = HookArguments::authentication(attempt);
  REQUIRE(auth.params().auth != nullptr);
  CHECK(auth.params().auth->user == "alice");
}
