#include "common/queue/queue_file.hpp"
#include "common/queue/queue_writer.hpp"
#include "worker/outbound/pending_splits.hpp"

#include <doctest/doctest.h>
#include <uv.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <string>
#include <sys/resource.h>
#include <variant>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using upesi::Result;
using upesi::outbound::PendingSplits;
using upesi::outbound::Split;
using upesi::queue::ByteSink;
using upesi::queue::QueueFileLock;
using upesi::queue::Todo;

namespace {

struct Fixture {
  std::string dir;
  uv_loop_t loop{};
  Fixture() {
    char name[] = "/tmp/upesi-pending-splits-test-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    dir = name;
    uv_loop_init(&loop);
  }
  ~Fixture() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
};

ordered_json rcpt(const std::string& user) {
  return ordered_json{{"original", "<" + user + "@example.net>"},
                      {"original_host", "example.net"},
                      {"host", "example.net"},
                      {"user", user}};
}

Todo todoFor(const std::vector<std::string>& users) {
  Todo todo;
  todo.queue_time = 1795418587971;
  todo.domain = "example.net";
  for (const auto& user : users) {
    todo.rcpt_to.push_back(rcpt(user));
  }
  todo.mail_from = rcpt("alice");
  todo.uuid = "U.1";
  return todo;
}

// The original "orig" (bob and carol, a message of `body_bytes`), claimed as a delivery holds
// it, and its split: carol alone, as "next".
Split makeSplit(const Fixture& f, std::size_t body_bytes) {
  const std::string body = "Subject: s\r\n\r\n" + std::string(body_bytes, 'x') + "\r\n";
  REQUIRE(upesi::queue::writeQueueFile(f.dir, "orig", todoFor({"bob", "carol"}),
                                       [&](const ByteSink& sink) { return sink(body); })
              .ok());
  auto claim = upesi::queue::claimQueueFile(f.dir, "orig");
  REQUIRE(std::holds_alternative<QueueFileLock>(claim));
  Split split;
  split.name = "orig";
  split.lock = std::move(std::get<QueueFileLock>(claim));
  auto header = upesi::queue::readHeader(split.lock.fd());
  REQUIRE(header.ok());
  split.message_offset = header->message_offset;
  split.next_name = "next";
  split.todo = todoFor({"carol"});
  split.due_ms = 5000;
  return split;
}

} // namespace

TEST_CASE("pending splits: the original is held until its split is written, then replaced") {
  Fixture f;
  std::vector<std::pair<std::string, std::int64_t>> written;
  PendingSplits splits(&f.loop, f.dir, [&](const std::string& name, std::int64_t due) {
    written.emplace_back(name, due);
  });
  splits.add(makeSplit(f, 200000), 1000, 2000);
  CHECK(splits.holds("orig"));
  CHECK_FALSE(splits.holds("next"));

  splits.retry(2999); // not yet
  uv_run(&f.loop, UV_RUN_DEFAULT);
  CHECK(splits.size() == 1);

  // The disk is full (RLIMIT_FSIZE, SIGXFSZ ignored meanwhile): the split fails again and
  // the original is left as it was.
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  const auto saved_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 10000;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  splits.retry(3000);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, saved_handler);
  CHECK(splits.holds("orig"));
  CHECK(written.empty());
  CHECK(f.entries() == std::vector<std::string>{"orig"});
  CHECK(upesi::queue::readHeader(f.dir + "/orig")->todo.rcpt_to.size() == 2);

  splits.retry(4999); // the next try is 2 s after the failed one
  uv_run(&f.loop, UV_RUN_DEFAULT);
  CHECK(written.empty());
  splits.retry(5000);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  REQUIRE(written.size() == 1);
  CHECK(written[0] == std::pair<std::string, std::int64_t>{"next", 5000});
  CHECK_FALSE(splits.holds("orig"));
  CHECK(f.entries() == std::vector<std::string>{"next"});
  auto header = upesi::queue::readHeader(f.dir + "/next");
  REQUIRE(header.ok());
  CHECK((header->todo == todoFor({"carol"})));
  CHECK(header->file_size - header->message_offset == 200000 + 16);
  // The split is released: a worker can claim it.
  CHECK(std::holds_alternative<QueueFileLock>(upesi::queue::claimQueueFile(f.dir, "next")));
}

TEST_CASE("pending splits: a flush writes them now, due now") {
  Fixture f;
  std::vector<std::pair<std::string, std::int64_t>> written;
  PendingSplits splits(&f.loop, f.dir, [&](const std::string& name, std::int64_t due) {
    written.emplace_back(name, due);
  });
  splits.add(makeSplit(f, 100), 1000, 60000);
  splits.flush(1500);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  REQUIRE(written.size() == 1);
  CHECK(written[0] == std::pair<std::string, std::int64_t>{"next", 1500});
  CHECK(splits.size() == 0);
}
