// The HTTP API's inject body (worker/http/inject_request): JSON from whoever holds the token.
//
// Input: a request body.
//
// Invariants: an error is a sentence; a request that parses has 1..max recipients, each with a
// domain, a message, and notes that are an object; a message it composed from "headers" has no
// header line but those the caller named (no CR or LF smuggled in a value).
#include "worker/http/inject_request.hpp"

#include "test/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t MaxRecipients = 5;
  const std::string_view body = upesi::fuzz::asView(data, size);
  auto parsed = upesi::worker::http::parseInjectRequest(body, MaxRecipients);
  if (!parsed) {
    FUZZ_CHECK(!parsed.error().empty());
    return 0;
  }
  FUZZ_CHECK(!parsed->to.empty() && parsed->to.size() <= MaxRecipients);
  for (const auto& rcpt : parsed->to) {
    FUZZ_CHECK(!rcpt.host.empty() && !rcpt.is_null);
  }
  FUZZ_CHECK(!parsed->message.empty());
  FUZZ_CHECK(parsed->notes.is_object());
  if (body.find("\"headers\"") != std::string_view::npos &&
      body.find("\"message\"") == std::string_view::npos) {
    const auto end = parsed->message.find("\r\n\r\n");
    FUZZ_CHECK(end != std::string::npos);
    const std::string_view head = std::string_view(parsed->message).substr(0, end + 2);
    for (std::size_t i = 0; i < head.size(); ++i) {
      if (head[i] == '\r' || head[i] == '\n') {
        FUZZ_CHECK(head[i] == '\r' ? head[i + 1] == '\n' : head[i - 1] == '\r');
      }
    }
  }
  return 0;
}
