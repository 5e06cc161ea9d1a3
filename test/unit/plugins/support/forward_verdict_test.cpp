#include "plugins/support/forward_verdict.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace upesi;
using namespace upesi::plugins;
using smtp_client::Outcome;
using smtp_client::Status;

namespace {

Status reply(Outcome outcome, int code, std::string enhanced, std::string reason) {
  return Status{outcome, code, std::move(enhanced), std::move(reason)};
}

const Status Queued = reply(Outcome::Ok, 250, "2.0.0", "250 2.0.0 queued as 1234");
const Status RcptOk = reply(Outcome::Ok, 250, "2.1.5", "250 2.1.5 ok");
const Status NoUser = reply(Outcome::Permanent, 550, "5.1.1", "550 5.1.1 no such user");
const Status OverQuota = reply(Outcome::Temporary, 452, "4.2.2", "452 4.2.2 over quota");
const Status DataTemp = reply(Outcome::Temporary, 451, "4.3.0", "451 4.3.0 try later");
const Status DataPerm = reply(Outcome::Permanent, 554, "5.6.0", "554 5.6.0 content refused");
const Status NoValid = reply(Outcome::Permanent, 554, "5.5.1", "554 5.5.1 no valid recipients");
const Status Refused = Status::temporary("connection refused");
const Status OwnPerm = Status::permanent("cannot use TLS");

std::string name(Code code) {
  return std::string(toString(code));
}

} // namespace

TEST_CASE("plugins/support/forward_verdict: replyText drops the code and enhanced code") {
  struct Case {
    Status status;
    std::string want;
  };
  for (const Case& c : {
           Case{Queued, "queued as 1234"},
           Case{reply(Outcome::Ok, 250, "", "250 Ok"), "Ok"},
           Case{reply(Outcome::Ok, 250, "2.0.0", "250 queued"), "queued"},
           Case{reply(Outcome::Ok, 250, "", "250"), "250"},
           Case{reply(Outcome::Ok, 250, "2.0.0", "250 2.0.0"), "250 2.0.0"},
           Case{reply(Outcome::Ok, 250, "2.0.0", "2.0.0 no code"), "no code"},
           Case{reply(Outcome::Ok, 250, "", "251 other code"), "251 other code"},
           Case{reply(Outcome::Ok, 250, "", "250text"), "text"},
           Case{Refused, "connection refused"},
           Case{reply(Outcome::Temporary, 0, "4.4.1", "4.4.1 timed out"), "4.4.1 timed out"},
       }) {
    CAPTURE(c.status.reason);
    CHECK(replyText(c.status) == c.want);
  }
}

TEST_CASE("plugins/support/forward_verdict: SMTP and LMTP outcomes") {
  struct Case {
    const char* what;
    bool lmtp;
    Status message;
    std::vector<Status> recipients;
    Code code;
    std::string text;
    std::size_t refused;
  };
  const std::vector<Case> cases = {
      {"smtp: all taken", false, Queued, {RcptOk, RcptOk}, Code::Ok, "queued as 1234", 0},
      {"smtp: some taken is OK", false, Queued, {NoUser, RcptOk}, Code::Ok, "queued as 1234", 1},
      {"smtp: no recipients reported", false, Queued, {}, Code::Ok, "queued as 1234", 0},
      {"smtp: every refusal permanent",
       false,
       NoValid,
       {NoUser, NoUser},
       Code::Deny,
       "no such user",
       2},
      {"smtp: one refusal temporary",
       false,
       NoValid,
       {NoUser, OverQuota},
       Code::DenySoft,
       "over quota",
       2},
      {"smtp: DATA refused for now", false, DataTemp, {RcptOk}, Code::DenySoft, "try later", 0},
      {"smtp: DATA refused for good", false, DataPerm, {RcptOk}, Code::Deny, "content refused", 0},
      {"smtp: DATA refused after a refused recipient",
       false,
       DataPerm,
       {RcptOk, NoUser},
       Code::Deny,
       "content refused",
       1},
      {"smtp: no connection", false, Refused, {}, Code::DenySoft, "connection refused", 0},
      {"smtp: our own permanent failure is temporary",
       false,
       OwnPerm,
       {NoUser},
       Code::DenySoft,
       "cannot use TLS",
       1},
      {"lmtp: all taken", true, Queued, {RcptOk, RcptOk}, Code::Ok, "queued as 1234", 0},
      {"lmtp: one permanent refusal refuses all",
       true,
       Queued,
       {RcptOk, NoUser},
       Code::Deny,
       "no such user",
       1},
      {"lmtp: a temporary refusal wins",
       true,
       Queued,
       {NoUser, OverQuota, RcptOk},
       Code::DenySoft,
       "over quota",
       2},
      {"lmtp: every recipient refused",
       true,
       NoValid,
       {NoUser, NoUser},
       Code::Deny,
       "no such user",
       2},
      {"lmtp: DATA refused for now", true, DataTemp, {RcptOk}, Code::DenySoft, "try later", 0},
      {"lmtp: no connection", true, Refused, {}, Code::DenySoft, "connection refused", 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    smtp_client::DeliveryResult result;
    result.message = c.message;
    int n = 0;
    for (const auto& status : c.recipients) {
      result.recipients.push_back({"r" + std::to_string(n++) + "@example.com", status});
    }
    const ForwardVerdict verdict = forwardVerdict(result, c.lmtp);
    CHECK(name(verdict.code) == name(c.code));
    CHECK(verdict.text == c.text);
    CHECK(verdict.refused.size() == c.refused);
    for (const auto& r : verdict.refused) {
      CHECK_FALSE(r.status.ok());
    }
  }
}

TEST_CASE("plugins/support/forward_verdict: the refused recipients keep their order") {
  smtp_client::DeliveryResult result;
  result.message = Queued;
  result.recipients = {
      {"a@example.com", NoUser}, {"b@example.com", RcptOk}, {"c@example.com", OverQuota}};
  const auto verdict = forwardVerdict(result, false);
  REQUIRE(verdict.refused.size() == 2);
  CHECK(verdict.refused[0].address == "a@example.com");
  CHECK(verdict.refused[1].address == "c@example.com");
  CHECK(verdict.refused[1].status.reason == "452 4.2.2 over quota");
}
