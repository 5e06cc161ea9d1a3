// The HTTP server's request parser (common/http/request_parser, on llhttp): what a client
// sends, split anywhere.
//
// Input: one byte that seeds the chunk sizes, then the client's bytes.
//
// Invariants: fed whole or in chunks, the same requests and a failure in both or neither; every
// request is within the limits (target, header bytes and count, body); a failure is 400, 413, 414
// or 431 with a reason, and the parser takes nothing after it.
#include "common/http/request_parser.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <vector>

using namespace upesi::http;

namespace {

constexpr RequestLimits Limits{
    .max_target = 200, .max_header_bytes = 600, .max_headers = 12, .max_body = 300};

struct Outcome {
  std::vector<Request> requests;
  int status = 0; // of the failure
  bool upgraded = false;
};

Outcome parse(std::string_view input, const std::vector<std::size_t>& chunks) {
  Outcome outcome;
  RequestParser parser(Limits);
  std::size_t next_chunk = 0;
  std::string pending; // read from the input, not yet taken by the parser
  std::size_t offset = 0;
  while (offset < input.size() || !pending.empty()) {
    if (offset < input.size()) {
      std::size_t size = next_chunk < chunks.size() ? chunks[next_chunk++] : input.size();
      size = std::min(size, input.size() - offset);
      pending.append(input.substr(offset, size));
      offset += size;
    }
    std::size_t consumed = 0;
    const auto result = parser.feed(pending, consumed);
    FUZZ_CHECK(consumed <= pending.size());
    pending.erase(0, consumed);
    if (result == RequestParser::Result::Failed) {
      outcome.status = parser.failure().status;
      FUZZ_CHECK(!parser.failure().reason.empty());
      FUZZ_CHECK(parser.feed("GET / HTTP/1.1\r\n\r\n", consumed) ==
                 RequestParser::Result::Failed); // failed for good
      return outcome;
    }
    if (result == RequestParser::Result::Complete) {
      outcome.requests.push_back(parser.take());
      if (outcome.requests.back().upgrade) {
        outcome.upgraded = true; // the rest is another protocol's
        return outcome;
      }
      if (!outcome.requests.back().keep_alive) {
        return outcome; // the server closes here
      }
      continue;
    }
    FUZZ_CHECK(pending.empty()); // NeedMore takes every byte
  }
  return outcome;
}

bool sameRequests(const std::vector<Request>& a, const std::vector<Request>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].method != b[i].method || a[i].target != b[i].target || a[i].headers != b[i].headers ||
        a[i].body != b[i].body || a[i].keep_alive != b[i].keep_alive ||
        a[i].upgrade != b[i].upgrade || a[i].version_minor != b[i].version_minor) {
      return false;
    }
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view input = upesi::fuzz::asView(data + 1, size - 1);
  const std::vector<std::size_t> chunks = upesi::fuzz::chunkSizes(data[0], input.size(), 23);
  const Outcome whole = parse(input, {});
  const Outcome chunked = parse(input, chunks);
  // Which limit or error is seen first may depend on where the input was split (a long target
  // cut short by a bad byte is 414 in pieces and 400 whole), but not whether it fails.
  FUZZ_CHECK((whole.status == 0) == (chunked.status == 0));
  FUZZ_CHECK(whole.upgraded == chunked.upgraded);
  FUZZ_CHECK(sameRequests(whole.requests, chunked.requests));
  FUZZ_CHECK(whole.status == 0 || whole.status == 400 || whole.status == 413 ||
             whole.status == 414 || whole.status == 431);

  for (const auto& request : whole.requests) {
    FUZZ_CHECK(!request.method.empty());
    FUZZ_CHECK(request.target.size() <= Limits.max_target);
    FUZZ_CHECK(request.headers.size() <= Limits.max_headers);
    std::size_t header_bytes = 0;
    for (const auto& [name, value] : request.headers) {
      header_bytes += name.size() + value.size();
    }
    FUZZ_CHECK(header_bytes <= Limits.max_header_bytes);
    FUZZ_CHECK(request.body.size() <= Limits.max_body);
  }
  return 0;
}
