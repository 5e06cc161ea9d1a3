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
