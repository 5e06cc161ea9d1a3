#include "common/queue/queue_file.hpp"
#include "master/queue_print.hpp"

#include <doctest/doctest.h>

using namespace upesi;
using namespace upesi::master;

namespace {

queue::HeaderResult headerOf(std::uint64_t size) {
  auto header = queue::parseHeaderText(R"({
    "queue_time": 1795430270603, "domain": "example.net",
    "rcpt_to": [{"original": "<b@example.net>", "host": "example.net", "user": "b"},
                {"original": "<c@example.net>", "host": "example.net", "user": "c"}],
    "mail_from": {"original": "<>", "host": "", "user": ""}, "uuid": "U-1.1"})");
  REQUIRE(header.ok());
  header->file_size = size;
  return header;
}

} // namespace

TEST_CASE("master queue cli: one line per message") {
  auto e = queue::describeQueueFile("1795430270603_1795430330603_2_25249_LL3BWF_7_vm",
                                    headerOf(1165), 1165);
  CHECK(formatEntryLine(e) ==
        "LL3BWF.7 arrival=2026-11-23T10:37:50Z next=2026-11-23T10:38:50Z attempts=2 size=1165 "
        "from=<> to=<b@example.net>,<c@example.net> domain=example.net");
  auto error_file = queue::describeQueueFile(
      "error.1795430270603_1795430270603_0_25249_LL3BWF_1_vm", queue::ReadError{}, 42);
  CHECK(formatEntryLine(error_file).find(" unreadable size=42 ") != std::string::npos);
  auto corrupt =
      queue::describeQueueFile("1795430270603_1795430270603_0_25249_LL3BWF_1_vm",
                               queue::ReadError{queue::ReadFailure::Corrupt, "bad \x1b[2J"}, 7);
  // Bytes from disk never reach the terminal as control characters.
  CHECK(formatEntryLine(corrupt) == "LL3BWF.1 unreadable size=7 (bad \\x1B[2J)");
}

TEST_CASE("master queue cli: the counts") {
  std::vector<queue::QueueEntry> entries;
  entries.push_back(queue::describeQueueFile("1000_1000_0_1_AAAAAA_1_h", headerOf(10), 10));
  entries.push_back(queue::describeQueueFile("900_5000_3_1_BBBBBB_2_h", headerOf(20), 20));
  entries.push_back(queue::describeQueueFile("error.1_1_0_1_CCCCCC_3_h", queue::ReadError{}, 5));
  entries[1].domain = "other.example";
  CHECK(formatStats(queue::queueStats(entries, 2000)) ==
        "total: 3\ndue now: 1\ndeferred: 1\nunreadable: 1\n"
        "oldest: 1970-01-01T00:00:00Z\nbytes: 35\n"
        "domain example.net: 1\ndomain other.example: 1\n");
  CHECK(formatStats(queue::queueStats({}, 2000)).find("oldest: -\n") != std::string::npos);
}
