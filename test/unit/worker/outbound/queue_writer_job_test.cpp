#include "common/queue/queue_file.hpp"
#include "test/support/fake_connection.hpp"
#include "test/support/temp_dir.hpp"
#include "worker/outbound/queue_writer_job.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::outbound;
using namespace upesi::test;

// A plugin may keep bytes from the network in a note (a header value); they need not be UTF-8.
// nlohmann's dump() threw type_error 316 on them, out of planQueueFiles, and took the worker down.
TEST_CASE("queue writer job: notes that are not UTF-8 are queued and read back repaired") {
  FakeTransaction txn("A1B2C3D4-0000-4000-8000-000000000001.1");
  txn.mail_from = makeAddress("sender", "client.example");
  txn.rcpt_to = {makeAddress("rcpt", "example.net")};
  txn.header_lines = {{"Subject", "hello"}};
  txn.body = "body\r\n";
  txn.notes()["raw"] = "\xff\xfe";
  txn.notes()["nested"] = {{"list", {"ok", "a\xc3(b"}}};

  config::OutboundConfig config;
  std::vector<QueuedFile> files;
  REQUIRE_NOTHROW(files = planQueueFiles(txn, config, "mx.example"));
  REQUIRE(files.size() == 1);
  CHECK(files[0].todo.notes.contains("skip_plugins"));

  TempDir dir;
  uv_loop_t loop{};
  uv_loop_init(&loop);
  std::optional<Result<std::vector<QueuedFile>>> written;
  auto shared = std::make_shared<FakeTransaction>(txn);
  writeQueueFiles(
      &loop, shared, files, dir.path().string(),
      [&written](Result<std::vector<QueuedFile>> result) { written = std::move(result); });
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  REQUIRE(written.has_value());
  REQUIRE(written->ok());

  auto header = queue::readHeader((dir.path() / files[0].name).string());
  REQUIRE(header.ok());
  const auto& notes = header->todo.notes;
  CHECK(notes["raw"] == "\xef\xbf\xbd\xef\xbf\xbd"); // one U+FFFD per ill-formed byte
  CHECK(notes["nested"]["list"][0] == "ok");
  CHECK(notes["nested"]["list"][1] == "a\xef\xbf\xbd(b");
  CHECK(notes["skip_plugins"].is_array());
}

TEST_CASE("queue writer job: DSN, REQUIRETLS and MT-PRIORITY go into each file's todo") {
  FakeTransaction txn("A1B2C3D4-0000-4000-8000-000000000002.1");
  txn.mail_from = makeAddress("sender", "client.example");
  txn.rcpt_to = {makeAddress("a", "example.net"), makeAddress("b", "example.org")};
  txn.mail_options.dsn_ret = DsnReturn::Headers;
  txn.mail_options.dsn_envid = "ENV 1";
  txn.mail_options.requiretls = true;
  txn.mail_options.has_mt_priority = true;
  txn.mail_options.mt_priority = -2;
  RcptOptions notify;
  notify.notify.given = true;
  notify.notify.success = true;
  notify.orcpt_type = "rfc822";
  notify.orcpt_address = "A@example.net";
  txn.rcpt_options["a@example.net"] = notify;

  config::OutboundConfig config;
  auto files = planQueueFiles(txn, config, "mx.example");
  REQUIRE(files.size() == 2);
  for (const auto& file : files) {
    CHECK(file.todo.dsn_ret == DsnReturn::Headers);
    CHECK(file.todo.dsn_envid == "ENV 1");
    CHECK(file.todo.requiretls);
    CHECK(file.todo.mt_priority == -2);
  }
  CHECK(files[0].todo.rcpt_to.at(0)["dsn_notify"] == "SUCCESS");
  CHECK(files[0].todo.rcpt_to.at(0)["dsn_orcpt"] == "rfc822;A@example.net");
  CHECK_FALSE(files[1].todo.rcpt_to.at(0).contains("dsn_notify"));
  CHECK_FALSE(files[1].todo.rcpt_to.at(0).contains("dsn_orcpt"));

  FakeTransaction plain("A1B2C3D4-0000-4000-8000-000000000003.1");
  plain.mail_from = makeAddress("sender", "client.example");
  plain.rcpt_to = {makeAddress("a", "example.net")};
  auto haraka_like = planQueueFiles(plain, config, "mx.example");
  REQUIRE(haraka_like.size() == 1);
  const auto json = haraka_like[0].todo.toJson();
  for (const char* key : {"dsn_ret", "dsn_envid", "requiretls", "mt_priority"}) {
    CHECK_FALSE(json.contains(key));
  }
}
