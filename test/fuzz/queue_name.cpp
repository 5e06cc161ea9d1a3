// Queue file names (common/queue/queue_file_name): Haraka's seven fields, and the legacy four.
//
// Input: a directory entry's name.
//
// Invariants: a name that parses formats to a seven-field name that parses to the same fields
// (legacy or not), holds no '/' or NUL, and whose retry name keeps arrival, uid and host.
#include "common/queue/queue_file_name.hpp"
#include "test/fuzz/fuzz_check.hpp"

using namespace upesi::queue;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view name = upesi::fuzz::asView(data, size);
  constexpr std::int64_t Now = 1795430270603;
  (void)isTempName(name);
  (void)isErrorName(name);
  auto parsed = QueueFileName::parse(name, Now);
  if (!parsed) {
    FUZZ_CHECK(!parsed.error().empty());
    return 0;
  }
  const std::string formatted = parsed->format();
  FUZZ_CHECK(formatted.find('/') == std::string::npos);
  FUZZ_CHECK(formatted.find('\0') == std::string::npos);
  auto again = QueueFileName::parse(formatted, Now);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(!again->legacy);
  QueueFileName expected = *parsed;
  expected.legacy = false;
  FUZZ_CHECK(*again == expected);
  FUZZ_CHECK(again->format() == formatted);

  const QueueFileName retry = parsed->retryName(Now + 60000, parsed->attempts + 1, 4242);
  auto retried = QueueFileName::parse(retry.format(), Now);
  FUZZ_CHECK(retried.ok());
  FUZZ_CHECK(retried->arrival_ms == parsed->arrival_ms);
  FUZZ_CHECK(retried->uid == parsed->uid && retried->host == parsed->host);
  FUZZ_CHECK(retried->next_attempt_ms == Now + 60000);
  return 0;
}
