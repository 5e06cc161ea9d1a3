// The RESP reply reader (common/redis): what a Redis server (or anything answering on its port)
// sends, split anywhere.
//
// Input: one byte that seeds the chunk sizes, then the server's bytes.
//
// Invariants: fed whole or in chunks, the same replies and the same failure; no reply past the
// size bound or nested deeper than the depth bound; what waits unfinished stays under the bound;
// a failed reader stays failed.
#include "common/redis/resp.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <string>
#include <vector>

namespace {

using upesi::redis::Reply;

constexpr std::size_t MaxReply = 4096; // small, so the fuzzer reaches the bound

struct RespOutcome {
  std::vector<Reply> replies;
  bool failed = false;
};

std::size_t respSizeOf(const Reply& reply, int depth) {
  FUZZ_CHECK(depth <= 9); // 8 arrays, and what the deepest holds
  FUZZ_CHECK(reply.type == Reply::Type::Array || reply.elements.empty());
  std::size_t size = sizeof(Reply) + reply.text.size();
  for (const auto& element : reply.elements) {
    size += respSizeOf(element, depth + 1);
  }
  return size;
}

bool sameReply(const Reply& a, const Reply& b) {
  if (a.type != b.type || a.text != b.text || a.integer != b.integer ||
      a.elements.size() != b.elements.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.elements.size(); ++i) {
    if (!sameReply(a.elements[i], b.elements[i])) {
      return false;
    }
  }
  return true;
}

RespOutcome readResp(std::string_view input, const std::vector<std::size_t>& chunks) {
  RespOutcome outcome;
  upesi::redis::ReplyLimits limits;
  limits.max_bytes = MaxReply;
  upesi::redis::ReplyReader reader(limits);
  std::size_t offset = 0;
  std::size_t next_chunk = 0;
  while (offset < input.size()) {
    std::size_t size = next_chunk < chunks.size() ? chunks[next_chunk++] : input.size();
    size = std::min(size, input.size() - offset);
    reader.feed(input.substr(offset, size));
    while (auto reply = reader.next()) {
      FUZZ_CHECK(respSizeOf(*reply, 1) <= MaxReply);
      outcome.replies.push_back(std::move(*reply));
    }
    if (reader.failed()) {
      outcome.failed = true;
      FUZZ_CHECK(!reader.error().empty());
      FUZZ_CHECK(!reader.feed("+OK\r\n"));
      FUZZ_CHECK(!reader.next().has_value());
      break;
    }
    offset += size;
  }
  return outcome;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view input = upesi::fuzz::asView(data + 1, size - 1);
  const RespOutcome whole = readResp(input, {});
  const RespOutcome chunked = readResp(input, upesi::fuzz::chunkSizes(data[0], input.size(), 17));
  FUZZ_CHECK(whole.failed == chunked.failed);
  if (!whole.failed) {
    FUZZ_CHECK(whole.replies.size() == chunked.replies.size());
    for (std::size_t i = 0; i < whole.replies.size(); ++i) {
      FUZZ_CHECK(sameReply(whole.replies[i], chunked.replies[i]));
    }
  }
  return 0;
}
