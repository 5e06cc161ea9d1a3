#include "common/queue/queue_file.hpp"
#include "common/queue/queue_json.hpp"
#include "common/queue/queue_model.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <stdlib.h>

using namespace upesi;
using namespace upesi::queue;

namespace {

HeaderResult headerOf(const std::string& json, std::uint64_t size) {
  auto header = parseHeaderText(json);
  REQUIRE(header.ok());
  header->file_size = size;
  return header;
}

const std::string TodoJson = R"({
  "queue_time": 1795430270603,
  "domain": "example.net",
  "rcpt_to": [
    {"original": "<b@example.net>", "original_host": "example.net", "host": "example.net", "user": "b"},
    {"original": "<c@Example.NET>", "original_host": "Example.NET", "host": "example.net", "user": "c"}
  ],
  "mail_from": {"original": "<>", "host": "", "user": ""},
  "uuid": "U-1.1"
})";

QueueEntry readable(std::string name, std::string domain = "example.net") {
  auto e = describeQueueFile(name, headerOf(TodoJson, 100), 100);
  e.domain = std::move(domain);
  return e;
}

} // namespace

TEST_CASE("queue model: an entry from a 7-field name and its header") {
  auto e = describeQueueFile("1795430270603_1795430330603_2_25249_LL3BWF_7_vm",
                             headerOf(TodoJson, 1165), 1165);
  CHECK_FALSE(e.unreadable);
  CHECK(e.id == "LL3BWF.7");
  CHECK(e.uid == "LL3BWF");
  CHECK(e.arrival_ms == 1795430270603);
  CHECK(e.next_attempt_ms == 1795430330603);
  CHECK(e.attempts == 2);
  CHECK(e.size == 1165);
  CHECK(e.mail_from == "<>");
  CHECK(e.rcpt_to == std::vector<std::string>{"<b@example.net>", "<c@example.net>"});
  CHECK(e.domain == "example.net");
  auto json = entryJson(e);
  CHECK(json["id"] == "LL3BWF.7");
  CHECK(json["file"] == "1795430270603_1795430330603_2_25249_LL3BWF_7_vm");
  CHECK(json["unreadable"] == false);
  CHECK(json["next_attempt"] == "2026-11-23T10:38:50Z");
  CHECK(json["next_attempt_ms"] == 1795430330603);
  CHECK(json["rcpt_to"].size() == 2);
  CHECK(json["uuid"] == "U-1.1");
}

TEST_CASE("queue model: error.* files and corrupt headers are unreadable") {
  auto error_file = describeQueueFile("error.1795430270603_1795430270603_0_25249_LL3BWF_1_vm",
                                      ReadError{ReadFailure::Corrupt, "ignored"}, 42);
  CHECK(error_file.unreadable);
  CHECK(error_file.id == "error.1795430270603_1795430270603_0_25249_LL3BWF_1_vm");
  CHECK(error_file.uid == "LL3BWF"); // still selectable by uid
  CHECK(entryJson(error_file)["unreadable"] == true);

  auto corrupt = describeQueueFile("1795430270603_1795430270603_0_25249_LL3BWF_1_vm",
                                   ReadError{ReadFailure::Corrupt, "bad \x1b[2J"}, 7);
  CHECK(corrupt.unreadable);
  CHECK(corrupt.id == "LL3BWF.1");
}

TEST_CASE("queue model: stats count due, deferred, unreadable, bytes and domains") {
  std::vector<QueueEntry> entries;
  entries.push_back(describeQueueFile("1000_1000_0_1_AAAAAA_1_h", headerOf(TodoJson, 10), 10));
  entries.push_back(describeQueueFile("900_5000_3_1_BBBBBB_2_h", headerOf(TodoJson, 20), 20));
  entries.push_back(describeQueueFile("error.1_1_0_1_CCCCCC_3_h", ReadError{}, 5));
  entries[1].domain = "other.example";
  auto stats = queueStats(entries, 2000);
  CHECK(stats.total == 3);
  CHECK(stats.due_now == 1);
  CHECK(stats.deferred == 1);
  CHECK(stats.unreadable == 1);
  CHECK(stats.oldest_arrival_ms == 900);
  CHECK(stats.bytes == 35);
  CHECK(stats.domains ==
        std::map<std::string, std::size_t>{{"example.net", 1}, {"other.example", 1}});
  auto json = statsJson(stats);
  CHECK(json["due_now"] == 1);
  CHECK(json["domains"]["other.example"] == 1);

  auto empty = queueStats({}, 2000);
  CHECK(statsJson(empty)["oldest_arrival"].is_null());
}

TEST_CASE("queue model: selecting by file name, queue id or uid") {
  std::vector<QueueEntry> entries{
      readable("1000_1000_0_1_AAAAAA_1_h"),
      readable("1000_1000_0_1_AAAAAA_2_h"),
      readable("1000_1000_0_1_BBBBBB_3_h"),
  };
  CHECK(*selectById(entries, "1000_1000_0_1_AAAAAA_2_h") == "1000_1000_0_1_AAAAAA_2_h");
  CHECK(*selectById(entries, "AAAAAA.1") == "1000_1000_0_1_AAAAAA_1_h");
  CHECK(*selectById(entries, "BBBBBB") == "1000_1000_0_1_BBBBBB_3_h");
  auto ambiguous = selectById(entries, "AAAAAA");
  REQUIRE_FALSE(ambiguous.ok());
  CHECK(ambiguous.error().find("names 2 files") != std::string::npos);
  CHECK_FALSE(selectById(entries, "CCCCCC").ok());
  CHECK_FALSE(selectById(entries, "").ok());
  CHECK_FALSE(selectById(entries, "AAAAA").ok()); // no prefix matching
}

TEST_CASE("queue model: stuck messages are the readable ones not yet due") {
  std::vector<QueueEntry> entries{
      readable("1000_9000_1_1_AAAAAA_1_h", "example.net"),
      readable("1000_9000_2_1_BBBBBB_2_h", "Other.Example"),
      readable("1000_1000_1_1_CCCCCC_3_h", "example.net"), // already due
  };
  entries.push_back(describeQueueFile("error.1000_9000_1_1_DDDDDD_4_h", ReadError{}, 1));
  auto all = selectStuck(entries, "", 5000);
  REQUIRE(all.size() == 2);
  CHECK(all[0]->uid == "AAAAAA");
  CHECK(all[1]->uid == "BBBBBB");
  auto other = selectStuck(entries, "other.EXAMPLE", 5000);
  REQUIRE(other.size() == 1);
  CHECK(other[0]->uid == "BBBBBB");
  CHECK(selectStuck(entries, "nowhere.example", 5000).empty());
}

TEST_CASE("queue model: dot-stuffing undone at line starts only") {
  CHECK(unstuff("a\r\n..b\r\n.\r\n...c\r\nd..e\r\n") == "a\r\n.b\r\n.\r\n..c\r\nd..e\r\n");
  CHECK(unstuff("..first") == ".first");
  CHECK(unstuff(".") == ".");
  CHECK(unstuff("") == "");
  CHECK(unstuff("x\r\n..") == "x\r\n.");
}

TEST_CASE("queue model: queue ids from file names") {
  CHECK(queueIdOf("1795430270603_1795430330603_2_25249_LL3BWF_7_vm") == "LL3BWF.7");
  CHECK(queueIdOf("error.1_1_0_1_CCCCCC_3_h") == "error.1_1_0_1_CCCCCC_3_h");
  CHECK(queueIdOf("not a queue file") == "not a queue file");
}

TEST_CASE("queue model: ISO 8601 times in UTC") {
  CHECK(isoTime(0) == "1970-01-01T00:00:00Z");
  CHECK(isoTime(1795430270603) == "2026-11-23T10:37:50Z");
  CHECK(isoTime(-1) == "1969-12-31T23:59:59Z");
}

namespace {

struct QueueModelDir {
  std::string dir;
  QueueModelDir() {
    char name[] = "/tmp/upesi-queue-model-test-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    dir = name;
  }
  ~QueueModelDir() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  QueueModelDir(const QueueModelDir&) = delete;
  QueueModelDir& operator=(const QueueModelDir&) = delete;

  void write(const std::string& name, const std::string& json) {
    std::string data(4, '\0');
    const auto n = static_cast<std::uint32_t>(json.size());
    data[0] = static_cast<char>(n >> 24);
    data[1] = static_cast<char>(n >> 16);
    data[2] = static_cast<char>(n >> 8);
    data[3] = static_cast<char>(n);
    data += json + "Subject: x\r\n\r\nbody\r\n";
    std::ofstream(dir + "/" + name, std::ios::binary) << data;
  }
};

std::vector<std::string> namesOf(const std::vector<QueueEntry>& entries) {
  std::vector<std::string> names;
  for (const auto& e : entries) {
    names.push_back(e.name);
  }
  return names;
}

} // namespace

TEST_CASE("queue model: a listing, stats and ids read one file at a time agree with the scan") {
  QueueModelDir q;
  q.write("3000_9000_1_1_AAAAAA_1_h", TodoJson);
  q.write("1000_1000_0_1_BBBBBB_2_h", TodoJson);
  q.write("2000_2000_0_1_AAAAAA_3_h", TodoJson);
  q.write("error.500_500_0_1_CCCCCC_4_h", "not json");
  q.write("__tmp__.4000_4000_0_1_DDDDDD_5_h", TodoJson);
  q.write("not-a-queue-file", TodoJson);

  auto all = scanQueue(q.dir);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 4);
  auto first2 = listQueue(q.dir, 2);
  REQUIRE(first2.ok());
  CHECK(first2->total == 4);
  CHECK(namesOf(first2->entries) == std::vector<std::string>{(*all)[0].name, (*all)[1].name});
  CHECK(first2->entries[1].rcpt_to == (*all)[1].rcpt_to); // headers were read for these
  CHECK(listQueue(q.dir, 10)->entries.size() == 4);
  CHECK(listQueue(q.dir, 0)->total == 4);

  auto stats = queueStatsOf(q.dir, 5000);
  REQUIRE(stats.ok());
  auto expected = queueStats(*all, 5000);
  CHECK(stats->total == expected.total);
  CHECK(stats->due_now == expected.due_now);
  CHECK(stats->deferred == expected.deferred);
  CHECK(stats->unreadable == expected.unreadable);
  CHECK(stats->bytes == expected.bytes);
  CHECK(stats->domains == expected.domains);

  auto named = entriesNamedBy(q.dir, "AAAAAA");
  REQUIRE(named.ok());
  CHECK(named->size() == 2);
  CHECK_FALSE(selectById(*named, "AAAAAA").ok()); // ambiguous, as over the whole scan
  CHECK(*selectById(*entriesNamedBy(q.dir, "AAAAAA.3"), "AAAAAA.3") == "2000_2000_0_1_AAAAAA_3_h");
  CHECK(entriesNamedBy(q.dir, "error.500_500_0_1_CCCCCC_4_h")->size() == 1);
  CHECK(entriesNamedBy(q.dir, "DDDDDD")->empty()); // still being written

  CHECK_FALSE(listQueue(q.dir + "/missing", 5).ok());
  CHECK_FALSE(queueStatsOf(q.dir + "/missing", 5000).ok());
}
