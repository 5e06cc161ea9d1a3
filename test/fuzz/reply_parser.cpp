// The SMTP client's reply parser (common/smtp_client/reply_parser): what a remote server
// sends, split anywhere.
//
// Input: one byte that seeds the chunk sizes, then the server's bytes.
//
// Invariants: fed whole or in chunks, the same replies and the same error; every reply has a
// code 200..599, at least one line, no control characters but TAB, an enhanced code only of
// its own class; describe() is bounded; the replies written back on the wire parse to the
// same replies.
#include "common/smtp_client/reply_parser.hpp"

#include "test/fuzz/fuzz_check.hpp"

using namespace upesi::smtp_client;

namespace {

struct Outcome {
  std::vector<ServerReply> replies;
  bool failed = false;
  bool mid_reply = false;
};

Outcome parse(std::string_view input, const std::vector<std::size_t>& chunks, ReplyLimits limits) {
  Outcome outcome;
  ReplyParser parser(limits);
  std::size_t offset = 0;
  std::size_t next_chunk = 0;
  while (offset < input.size()) {
    std::size_t size = next_chunk < chunks.size() ? chunks[next_chunk++] : input.size();
    size = std::min(size, input.size() - offset);
    const std::size_t before = outcome.replies.size();
    auto result = parser.feed(input.substr(offset, size), outcome.replies);
    if (!result) {
      outcome.failed = true;
      FUZZ_CHECK(parser.failed());
      FUZZ_CHECK(!parser.feed("250 ok\r\n", outcome.replies).ok()); // failed for good
      break;
    }
    FUZZ_CHECK(*result == outcome.replies.size() - before);
    offset += size;
  }
  outcome.mid_reply = parser.midReply();
  return outcome;
}

bool sameReplies(const std::vector<ServerReply>& a, const std::vector<ServerReply>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].code != b[i].code || a[i].enhanced != b[i].enhanced || a[i].lines != b[i].lines) {
      return false;
    }
  }
  return true;
}

std::string writeBack(const std::vector<ServerReply>& replies) {
  std::string out;
  for (const auto& reply : replies) {
    for (std::size_t i = 0; i < reply.lines.size(); ++i) {
      out += std::to_string(reply.code);
      out += i + 1 == reply.lines.size() ? ' ' : '-';
      if (!reply.enhanced.empty()) {
        out += reply.enhanced;
        out += ' ';
      }
      out += reply.lines[i];
      out += "\r\n";
    }
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view input = upesi::fuzz::asView(data + 1, size - 1);
  const std::vector<std::size_t> chunks = upesi::fuzz::chunkSizes(data[0], input.size(), 23);
  const ReplyLimits limits{.max_line = 256, .max_lines = 20};
  const Outcome whole = parse(input, {}, limits);
  const Outcome chunked = parse(input, chunks, limits);
  FUZZ_CHECK(whole.failed == chunked.failed);
  FUZZ_CHECK(sameReplies(whole.replies, chunked.replies));
  if (!whole.failed) {
    FUZZ_CHECK(whole.mid_reply == chunked.mid_reply);
  }

  for (const auto& reply : whole.replies) {
    FUZZ_CHECK(reply.code >= 200 && reply.code <= 599);
    FUZZ_CHECK(!reply.lines.empty() && reply.lines.size() <= limits.max_lines);
    FUZZ_CHECK(reply.positive() + reply.transient() + reply.permanent() == 1);
    if (!reply.enhanced.empty()) {
      FUZZ_CHECK(reply.enhanced[0] - '0' == reply.code / 100);
      FUZZ_CHECK(enhancedCodeLength(reply.enhanced) == reply.enhanced.size());
    }
    for (const auto& line : reply.lines) {
      FUZZ_CHECK(line.size() <= limits.max_line);
      for (char c : line) {
        const auto u = static_cast<unsigned char>(c);
        FUZZ_CHECK(u == '\t' || (u >= 0x20 && u != 0x7f));
      }
    }
    FUZZ_CHECK(reply.describe().size() <= 512 + 3);
  }

  const std::string written = writeBack(whole.replies);
  const Outcome again = parse(written, {}, {.max_line = 512, .max_lines = 20});
  FUZZ_CHECK(!again.failed && !again.mid_reply);
  FUZZ_CHECK(sameReplies(again.replies, whole.replies));
  return 0;
}
