#include "worker/outbound/recipient_results.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::outbound;
using smtp_client::Outcome;
using smtp_client::Status;

namespace {

Address address(const std::string& user) {
  Address a;
  a.user = user;
  a.host = "example.net";
  a.original = "<" + user + "@example.net>";
  return a;
}

smtp_client::RecipientResult answer(const std::string& user, Outcome outcome,
                                    const std::string& enhanced, const std::string& reason) {
  return {user + "@example.net",
          Status{outcome, outcome == Outcome::Ok ? 250 : 450, enhanced, reason}};
}

} // namespace

TEST_CASE("recipient results: each recipient by its own answer, with its status and words") {
  std::vector<Address> rcpts{address("a"), address("b"), address("c"), address("d")};
  smtp_client::DeliveryResult result;
  result.message = Status{Outcome::Ok, 250, "2.0.0", "250 2.0.0 queued"};
  result.recipients = {answer("a", Outcome::Ok, "2.1.5", "250 ok"),
                       answer("b", Outcome::Temporary, "4.2.2", "452 4.2.2 full"),
                       answer("c", Outcome::Permanent, "", "550 no such user"),
                       answer("d", Outcome::Temporary, "", "451 later")};
  const RecipientResults r = sortRecipients(rcpts, result);
  REQUIRE(r.ok.size() == 1);
  CHECK(r.ok[0].user == "a");
  REQUIRE(r.temp.size() == 2);
  CHECK(r.temp[0].address.user == "b");
  CHECK(r.temp[0].status == "4.2.2");
  CHECK(r.temp[0].diagnostic == "452 4.2.2 full");
  CHECK(r.temp[1].status == "4.0.0"); // no enhanced status given
  REQUIRE(r.perm.size() == 1);
  CHECK(r.perm[0].status == "5.0.0");
  // Each reason is what was said of those recipients, never of another's.
  CHECK(r.temp_reason == "452 4.2.2 full");
  CHECK(r.perm_reason == "550 no such user");
}

TEST_CASE("recipient results: without deferred or bounced ones the reason is the message's") {
  std::vector<Address> rcpts{address("a"), address("b")};
  smtp_client::DeliveryResult result;
  result.message = Status{Outcome::Permanent, 554, "5.6.0", "554 5.6.0 rejected"};
  result.recipients = {answer("a", Outcome::Permanent, "5.6.0", "554 5.6.0 rejected")};
  const RecipientResults r = sortRecipients(rcpts, result);
  CHECK(r.ok.empty());
  CHECK(r.temp.empty());
  CHECK(r.perm.size() == 1); // "b" had no answer: it keeps no place, as before
  CHECK(r.temp_reason == "554 5.6.0 rejected");
  CHECK(r.perm_reason == "554 5.6.0 rejected");
}

TEST_CASE("recipient results: all deferred (4.4.1) or all bounced, for one reason") {
  std::vector<Address> rcpts{address("a"), address("b")};
  const RecipientResults deferred = allDeferred(rcpts, "Tried all MXs");
  CHECK(deferred.ok.empty());
  CHECK(deferred.perm.empty());
  REQUIRE(deferred.temp.size() == 2);
  CHECK(deferred.temp[1].status == "4.4.1");
  CHECK(deferred.temp[1].diagnostic == "Tried all MXs");
  CHECK(deferred.temp_reason == "Tried all MXs");
  CHECK(deferred.perm_reason.empty());
  const RecipientResults bounced = allBounced(rcpts, "5.1.10", "null MX");
  CHECK(bounced.temp.empty());
  REQUIRE(bounced.perm.size() == 2);
  CHECK(bounced.perm[0].status == "5.1.10");
  CHECK(bounced.perm_reason == "null MX");
  CHECK(bounced.temp_reason.empty());
}
