// Queue files (common/queue): the length-prefixed JSON header ("todo") in Haraka's format, read
// from memory and from a file descriptor, and the addresses inside it.
//
// Input: a whole queue file.
//
// Invariants: reading from memory and from a file agree; a header that reads is written back
// (encodeHeader) to bytes that read to the same todo; its addresses convert to Address and back
// to the same Address; bad bytes are Corrupt, never an I/O error or a crash.
#include "common/queue/queue_file.hpp"

#include "common/queue/todo.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <sys/mman.h>
#include <unistd.h>

using namespace upesi;
using namespace upesi::queue;

namespace {

HeaderResult readThroughFile(std::string_view bytes) {
  static const int fd = ::memfd_create("fuzz-queue-file", 0);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(::ftruncate(fd, 0) == 0);
  FUZZ_CHECK(::pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  return readHeader(fd);
}

void checkAddress(const nlohmann::ordered_json& json) {
  auto address = addressFromJson(json);
  if (!address) {
    return;
  }
  auto again = addressFromJson(addressToJson(*address));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *address);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = fuzz::asView(data, size);
  HeaderResult memory = decodeHeader(bytes);
  HeaderResult file = readThroughFile(bytes);
  FUZZ_CHECK(memory.ok() == file.ok());
  if (!memory) {
    FUZZ_CHECK(memory.corrupt() && file.corrupt());
    return 0;
  }
  const Todo& todo = memory->todo;
  FUZZ_CHECK(file->todo == todo);
  FUZZ_CHECK(memory->message_offset == file->message_offset);
  FUZZ_CHECK(memory->message_offset <= bytes.size());
  FUZZ_CHECK(file->file_size == bytes.size());

  auto encoded = encodeHeader(todo);
  if (!encoded) {
    return 0; // the header grew past MaxHeaderBytes (the input used compact JSON)
  }
  HeaderResult again = decodeHeader(*encoded);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->todo == todo);
  FUZZ_CHECK(again->message_offset == encoded->size());
  FUZZ_CHECK(encodeHeader(again->todo).value() == *encoded);

  checkAddress(todo.mail_from);
  for (const auto& rcpt : todo.rcpt_to) {
    checkAddress(rcpt);
  }
  return 0;
}
