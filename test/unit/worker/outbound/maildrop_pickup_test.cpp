// The maildrop pickup on a real loop and directory: what sendmail leaves is queued once through
// the send_email it is given, then removed; DENYSOFT keeps the file for later, DENY and junk go
// to failed/, and two pickups (two workers) never queue one file twice.
#include "common/maildrop/drop_file.hpp"
#include "common/maildrop/drop_writer.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/test_loop.hpp"
#include "worker/outbound/maildrop_pickup.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace upesi;
using upesi::outbound::MaildropPickup;
using upesi::outbound::PickupSettings;
using upesi::test::TempDir;
using upesi::test::TestLoop;

namespace {

struct Submitted {
  std::string from;
  std::vector<std::string> to;
  std::string message;
  nlohmann::json notes;
};

// A send_email that records each message and answers with `answer` (Ok unless told).
struct RecordingSendEmail {
  std::vector<Submitted> submitted;
  Code answer = Code::Ok;

  MaildropPickup::SendEmail function() {
    return [this](const Address& from, const std::vector<Address>& to, std::string message,
                  const SendEmailOptions& options, plugin::ProcessServices::SendEmailDone done) {
      Submitted s{from.is_null ? "<>" : from.address(), {}, std::move(message), options.notes};
      for (const auto& rcpt : to) {
        s.to.push_back(rcpt.address());
      }
      submitted.push_back(std::move(s));
      done(answer, answer == Code::Ok ? "Message Queued (test)" : "not now", {});
    };
  }
};

std::string dropMail(const TempDir& dir, const std::vector<std::string>& to,
                     const std::string& subject) {
  maildrop::Envelope envelope{1000, "alice", "alice", "", to};
  auto name = maildrop::writeDropFile(dir.path(), *maildrop::serializeEnvelope(envelope),
                                      "Subject: " + subject + "\n\nbody\n");
  REQUIRE(name.ok());
  return *name;
}

PickupSettings settingsFor(const TempDir& dir) {
  PickupSettings settings;
  settings.dir = dir.path();
  settings.me = "host.example";
  settings.max_message_size = 10000;
  settings.rescan_ms = 100;
  settings.retry_ms = 100;
  return settings;
}

} // namespace

TEST_CASE("maildrop pickup: a dropped message is queued once, then its file removed") {
  TempDir dir;
  TestLoop l;
  RecordingSendEmail send;
  dropMail(dir, {"root"}, "early");
  auto pickup = std::make_unique<MaildropPickup>(&l.loop, settingsFor(dir), send.function());
  pickup->start();
  REQUIRE(l.runUntil([&] { return pickup->queued() == 1 && dir.entries().empty(); }));
  dropMail(dir, {"bob@example.org", "carol"}, "late"); // seen through the change event
  REQUIRE(l.runUntil([&] { return pickup->queued() == 2 && dir.entries().empty(); }));
  REQUIRE(send.submitted.size() == 2);
  CHECK(send.submitted[0].from == "alice@host.example");
  CHECK(send.submitted[0].to == std::vector<std::string>{"root@host.example"});
  CHECK(send.submitted[0].message.find("Subject: early") != std::string::npos);
  CHECK(send.submitted[0].notes["local_submission"]["user"] == "alice");
  CHECK(send.submitted[1].to == std::vector<std::string>{"bob@example.org", "carol@host.example"});
  CHECK(pickup->failed() == 0);
  pickup.reset();
}

TEST_CASE("maildrop pickup: DENYSOFT keeps the file and it is queued later") {
  TempDir dir;
  TestLoop l;
  RecordingSendEmail send;
  send.answer = Code::DenySoft;
  const std::string name = dropMail(dir, {"root"}, "wait");
  auto pickup = std::make_unique<MaildropPickup>(&l.loop, settingsFor(dir), send.function());
  pickup->start();
  REQUIRE(l.runUntil([&] { return send.submitted.size() == 1; }));
  CHECK(dir.entries() == std::vector<std::string>{name});
  send.answer = Code::Ok;
  REQUIRE(l.runUntil([&] { return pickup->queued() == 1 && dir.entries().empty(); }));
  CHECK(send.submitted.size() == 2);
  pickup.reset();
}

TEST_CASE("maildrop pickup: DENY and files that are not drop files go to failed/") {
  TempDir dir;
  TestLoop l;
  RecordingSendEmail send;
  send.answer = Code::Deny;
  const std::string refused = dropMail(dir, {"root"}, "refused");
  dir.write("d.1.2.junk", "From: x\n\nnot an envelope\n");
  dir.write("t.9.abc", "half written"); // a temporary file is left alone
  auto pickup = std::make_unique<MaildropPickup>(&l.loop, settingsFor(dir), send.function());
  pickup->start();
  REQUIRE(l.runUntil([&] { return pickup->failed() == 2; }));
  CHECK(dir.entries() == std::vector<std::string>{"failed", "t.9.abc"});
  CHECK(std::filesystem::exists(dir.path() / "failed" / refused));
  CHECK(std::filesystem::exists(dir.path() / "failed" / "d.1.2.junk"));
  CHECK(send.submitted.size() == 1);
  pickup.reset();
}

TEST_CASE("maildrop pickup: two pickups on one directory queue each file once") {
  TempDir dir;
  TestLoop l;
  RecordingSendEmail send;
  for (int n = 0; n < 30; ++n) {
    dropMail(dir, {"root"}, fmt::format("m{}", n));
  }
  auto first = std::make_unique<MaildropPickup>(&l.loop, settingsFor(dir), send.function());
  auto second = std::make_unique<MaildropPickup>(&l.loop, settingsFor(dir), send.function());
  first->start();
  second->start();
  REQUIRE(l.runUntil([&] { return first->queued() + second->queued() == 30; }));
  REQUIRE(l.runUntil([&] { return dir.entries().empty(); }));
  CHECK(send.submitted.size() == 30);
  std::vector<std::string> subjects;
  for (const auto& s : send.submitted) {
    subjects.push_back(s.message.substr(s.message.find("Subject: ")));
  }
  std::sort(subjects.begin(), subjects.end());
  CHECK(std::unique(subjects.begin(), subjects.end()) == subjects.end());
  first.reset();
  second.reset();
}
