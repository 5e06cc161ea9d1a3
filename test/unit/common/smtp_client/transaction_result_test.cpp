// summarizeTransaction: every way a transaction ends, SMTP and LMTP, as a table. Each status is
// written "<outcome> <reason>", the reason of a reply being "<code> <text>".
#include "common/smtp_client/transaction_result.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

using namespace upesi;
using namespace upesi::smtp_client;

namespace {

Status said(int code, const char* text) {
  return Status::fromReply(ServerReply{.code = code, .enhanced = {}, .lines = {text}});
}

const std::optional<Status> none;
const Status mail_ok = said(250, "sender ok");
const Status rcpt_ok = said(250, "recipient ok");
const Status go_ahead = said(354, "go ahead");
const Status queued = said(250, "queued");
const Status lost = Status::temporary("connection closed by the server waiting for reply");

struct Row {
  const char* name;
  TransactionReplies replies; // for the recipients a, b and c
  std::vector<std::string> recipients;
  std::string message;
};

std::string written(const Status& status) {
  return std::string(toString(status.outcome)) + " " + status.reason;
}

const std::vector<Address> abc = {
    Address{.user = "a", .host = "example.test"},
    Address{.user = "b", .host = "example.test"},
    Address{.user = "c", .host = "example.test"},
};

// clang-format off
const Row rows[] = {
    {"SMTP: every recipient taken",
     {mail_ok, {rcpt_ok, rcpt_ok, rcpt_ok}, go_ahead, {queued, queued, queued}, {0, 1, 2}, none},
     {"ok 250 queued", "ok 250 queued", "ok 250 queued"},
     "ok 250 queued"},
    {"MAIL refused, pipelined: the RCPT and DATA replies do not count",
     {said(550, "sender refused"),
      {said(503, "need MAIL"), said(503, "need MAIL"), said(503, "need MAIL")},
      said(503, "need MAIL"), {none, none, none}, {}, none},
     {"permanent 550 sender refused", "permanent 550 sender refused",
      "permanent 550 sender refused"},
     "permanent 550 sender refused"},
    {"MAIL refused for now, not pipelined: nothing more was said",
     {said(451, "try later"), {none, none, none}, none, {none, none, none}, {}, none},
     {"temporary 451 try later", "temporary 451 try later", "temporary 451 try later"},
     "temporary 451 try later"},
    {"some recipients refused: the others have the final reply",
     {mail_ok, {rcpt_ok, said(550, "no such user b"), rcpt_ok}, go_ahead,
      {queued, none, queued}, {0, 2}, none},
     {"ok 250 queued", "permanent 550 no such user b", "ok 250 queued"},
     "ok 250 queued"},
    {"every recipient refused, not pipelined: a temporary refusal decides",
     {mail_ok, {said(550, "no such user a"), said(450, "b busy"), said(550, "no such user c")},
      none, {none, none, none}, {}, none},
     {"permanent 550 no such user a", "temporary 450 b busy", "permanent 550 no such user c"},
     "temporary no recipient accepted: 450 b busy"},
    {"every recipient refused for good",
     {mail_ok, {said(550, "no such user a"), said(551, "b moved"), said(553, "c invalid")},
      none, {none, none, none}, {}, none},
     {"permanent 550 no such user a", "permanent 551 b moved", "permanent 553 c invalid"},
     "permanent no recipient accepted: 550 no such user a"},
    {"every recipient refused, pipelined: DATA's refusal is not the message's",
     {mail_ok, {said(550, "no such user a"), said(550, "no such user b"), said(550, "no such user c")},
      said(554, "no valid recipients"), {none, none, none}, {}, none},
     {"permanent 550 no such user a", "permanent 550 no such user b",
      "permanent 550 no such user c"},
     "permanent no recipient accepted: 550 no such user a"},
    {"DATA refused for now: the accepted recipients have its reply",
     {mail_ok, {rcpt_ok, said(550, "no such user b"), rcpt_ok}, said(451, "not now"),
      {none, none, none}, {0, 2}, none},
     {"temporary 451 not now", "permanent 550 no such user b", "temporary 451 not now"},
     "temporary 451 not now"},
    {"DATA refused for good",
     {mail_ok, {rcpt_ok, rcpt_ok, rcpt_ok}, said(554, "no thanks"), {none, none, none},
      {0, 1, 2}, none},
     {"permanent 554 no thanks", "permanent 554 no thanks", "permanent 554 no thanks"},
     "permanent 554 no thanks"},
    {"final reply temporary",
     {mail_ok, {rcpt_ok, rcpt_ok, rcpt_ok}, go_ahead,
      {said(451, "queue full"), said(451, "queue full"), said(451, "queue full")}, {0, 1, 2},
      none},
     {"temporary 451 queue full", "temporary 451 queue full", "temporary 451 queue full"},
     "temporary 451 queue full"},
    {"final reply permanent",
     {mail_ok, {rcpt_ok, rcpt_ok, rcpt_ok}, go_ahead,
      {said(554, "spam"), said(554, "spam"), said(554, "spam")}, {0, 1, 2}, none},
     {"permanent 554 spam", "permanent 554 spam", "permanent 554 spam"},
     "permanent 554 spam"},
    {"final reply permanent, one recipient refused for now: the message may still go",
     {mail_ok, {rcpt_ok, said(450, "b busy"), rcpt_ok}, go_ahead,
      {said(554, "spam"), none, said(554, "spam")}, {0, 2}, none},
     {"permanent 554 spam", "temporary 450 b busy", "permanent 554 spam"},
     "temporary 450 b busy"},
    {"LMTP: each recipient its own final reply, the first taken is the message's",
     {mail_ok, {rcpt_ok, rcpt_ok, rcpt_ok}, go_ahead,
      {said(452, "b over quota"), queued, said(550, "c gone")}, {0, 1, 2}, none},
     {"temporary 452 b over quota", "ok 250 queued", "permanent 550 c gone"},
     "ok 250 queued"},
    {"LMTP: none taken, one for now",
     {mail_ok, {rcpt_ok, rcpt_ok, rcpt_ok}, go_ahead,
      {said(550, "a gone"), said(452, "b over quota"), said(550, "c gone")}, {0, 1, 2}, none},
     {"permanent 550 a gone", "temporary 452 b over quota", "permanent 550 c gone"},
     "temporary 452 b over quota"},
    {"LMTP: a refused RCPT has no final reply",
     {mail_ok, {said(550, "no such user a"), rcpt_ok, rcpt_ok}, go_ahead,
      {none, queued, said(452, "c over quota")}, {1, 2}, none},
     {"permanent 550 no such user a", "ok 250 queued", "temporary 452 c over quota"},
     "ok 250 queued"},
    {"LMTP: connection lost after the first final reply",
     {mail_ok, {rcpt_ok, rcpt_ok, rcpt_ok}, go_ahead, {queued, none, none}, {0, 1, 2}, lost},
     {"ok 250 queued", "temporary " + lost.reason, "temporary " + lost.reason},
     "ok 250 queued"},
    {"LMTP: connection lost after a refusal: the loss is the message's",
     {mail_ok, {rcpt_ok, rcpt_ok, rcpt_ok}, go_ahead, {said(550, "a gone"), none, none},
      {0, 1, 2}, lost},
     {"permanent 550 a gone", "temporary " + lost.reason, "temporary " + lost.reason},
     "temporary " + lost.reason},
    {"connection lost before MAIL's reply",
     {none, {none, none, none}, none, {none, none, none}, {}, lost},
     {"temporary " + lost.reason, "temporary " + lost.reason, "temporary " + lost.reason},
     "temporary " + lost.reason},
    {"connection lost midway through the RCPT replies",
     {mail_ok, {rcpt_ok, none, none}, none, {none, none, none}, {0}, lost},
     {"temporary " + lost.reason, "temporary " + lost.reason, "temporary " + lost.reason},
     "temporary " + lost.reason},
    {"connection lost in the body (or the message could not be read)",
     {mail_ok, {rcpt_ok, said(550, "no such user b"), rcpt_ok}, go_ahead, {none, none, none},
      {0, 2}, Status::temporary("cannot read the message: I/O error")},
     {"temporary cannot read the message: I/O error", "permanent 550 no such user b",
      "temporary cannot read the message: I/O error"},
     "temporary cannot read the message: I/O error"},
    {"connection lost waiting for the RSET after every recipient was refused",
     {mail_ok, {said(550, "no such user a"), said(550, "no such user b"), said(550, "no such user c")},
      none, {none, none, none}, {}, lost},
     {"permanent 550 no such user a", "permanent 550 no such user b",
      "permanent 550 no such user c"},
     "permanent no recipient accepted: 550 no such user a"},
    {"a refusal of ours before MAIL",
     {none, {none, none, none}, none, {none, none, none}, {},
      Status::permanent("invalid sender address")},
     {"permanent invalid sender address", "permanent invalid sender address",
      "permanent invalid sender address"},
     "permanent invalid sender address"},
    {"a recipient nothing was heard of is temporary",
     {mail_ok, {rcpt_ok, rcpt_ok, none}, go_ahead, {queued, queued, none}, {0, 1}, none},
     {"ok 250 queued", "ok 250 queued", "temporary no reply for this recipient"},
     "ok 250 queued"},
};
// clang-format on

} // namespace

TEST_CASE("transaction result: every way a transaction ends") {
  for (const auto& row : rows) {
    CAPTURE(row.name);
    TransactionResult result = summarizeTransaction(abc, row.replies);
    REQUIRE(result.recipients.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CAPTURE(i);
      CHECK(result.recipients[i].address == abc[i].address());
      CHECK(written(result.recipients[i].status) == row.recipients[i]);
    }
    CHECK(written(result.message) == row.message);
  }
}

TEST_CASE("transaction result: codes and enhanced codes come with the reply that decided") {
  const Status unknown =
      Status::fromReply(ServerReply{.code = 550, .enhanced = "5.1.1", .lines = {"unknown"}});
  TransactionReplies replies{mail_ok, {unknown}, none, {none}, {}, none};
  auto result = summarizeTransaction({abc[0]}, replies);
  CHECK(result.recipients[0].status.code == 550);
  CHECK(result.recipients[0].status.enhanced == "5.1.1");
  CHECK(result.message.code == 550);
  CHECK(result.message.enhanced == "5.1.1");
  CHECK(result.message.reason == "no recipient accepted: 550 5.1.1 unknown");
}
