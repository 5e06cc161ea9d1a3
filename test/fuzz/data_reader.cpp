// The DATA phase (worker/smtp/data_reader): dot-unstuffing, the CRLF.CRLF terminator, bare CR
// and LF, line and size limits, fed in chunks that split anywhere.
//
// Input: four option bytes (line-ending policy, long-line policy, line limit, size limit), one
// byte that seeds the chunk sizes, then the bytes the client sends after the 354.
//
// Invariants:
//  - fed whole or in random chunks, the reader gives the same bytes, state, counts and outcome;
//  - without a line limit it agrees with a plain line-by-line model of RFC 5321 §4.5.2 (and of
//    the header's rules for bare CR/LF), including where the terminator ends;
//  - a limited line never comes out longer than the limit when folding, and a message over the
//    size limit never comes out longer than the limit;
//  - an accepted message, dot-stuffed again, reads back to itself.
#include "worker/smtp/data_reader.hpp"

#include "test/fuzz/fuzz_check.hpp"

#include <optional>
#include <string>
#include <vector>

using namespace upesi::smtp;

namespace {

struct Run {
  std::string out;
  std::size_t consumed = 0;
  DataState state = DataState::Reading;
  DataOutcome outcome = DataOutcome::Accepted;
  std::uint64_t message_bytes = 0;
  std::uint64_t wire_bytes = 0;
  std::uint64_t lines = 0;
  bool line_length_exceeded = false;
  bool line_too_long = false;
  bool size_exceeded = false;
  bool normalised = false;
  bool first_line_is_header = false;
  std::optional<std::uint64_t> body_offset;

  // The same reading of the same bytes. What was handed out before a refusal (over the size or
  // line limit, a bare line ending) depends on where the chunks split and is not compared.
  bool sameAs(const Run& other) const {
    if (state != other.state || consumed != other.consumed) {
      return false;
    }
    if (state == DataState::BareLineEnding) {
      return true;
    }
    const bool refused = size_exceeded || line_too_long;
    return outcome == other.outcome && message_bytes == other.message_bytes &&
           wire_bytes == other.wire_bytes && lines == other.lines &&
           line_length_exceeded == other.line_length_exceeded &&
           line_too_long == other.line_too_long && size_exceeded == other.size_exceeded &&
           normalised == other.normalised && first_line_is_header == other.first_line_is_header &&
           body_offset == other.body_offset && (refused || out == other.out);
  }
};

Run read(const DataReaderOptions& options, std::string_view input,
         const std::vector<std::size_t>& chunks) {
  Run run;
  DataReader reader(options, [&](std::string_view bytes) { run.out.append(bytes); });
  std::size_t offset = 0;
  std::size_t next_chunk = 0;
  while (offset < input.size()) {
    std::size_t size = next_chunk < chunks.size() ? chunks[next_chunk++] : input.size();
    size = std::min(size, input.size() - offset);
    const DataFeedResult result = reader.feed(input.substr(offset, size));
    FUZZ_CHECK(result.consumed <= size);
    FUZZ_CHECK(result.state == reader.state());
    run.consumed += result.consumed;
    if (result.state != DataState::Reading) {
      break;
    }
    FUZZ_CHECK(result.consumed == size);
    offset += size;
  }
  if (reader.state() != DataState::Reading) {
    FUZZ_CHECK(reader.feed("more\r\n.\r\n").consumed == 0); // nothing after the end
  }
  run.state = reader.state();
  run.outcome = reader.state() == DataState::Reading ? DataOutcome::Accepted : reader.outcome();
  run.message_bytes = reader.messageBytes();
  run.wire_bytes = reader.wireBytes();
  run.lines = reader.lines();
  run.line_length_exceeded = reader.lineLengthExceeded();
  run.line_too_long = reader.lineTooLong();
  run.size_exceeded = reader.sizeExceeded();
  run.normalised = reader.normalisedLineEndings();
  run.first_line_is_header = reader.firstLineIsHeader();
  run.body_offset = reader.bodyOffset();
  return run;
}

// The model: split the input into lines, drop a leading dot, stop at "." after a CRLF-ended line.
struct Model {
  DataState state = DataState::Reading;
  std::string out;
  std::size_t consumed = 0; // where the terminator ends (Done only)
  std::uint64_t lines = 0;
  std::size_t longest = 0; // the longest line as stored, without CRLF
  bool normalised = false;
  bool first_line_is_header = false;
  std::optional<std::uint64_t> body_offset;
};

bool looksLikeHeader(std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) {
    return false;
  }
  for (std::size_t i = 0; i < colon; ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c < 33 || c > 126) {
      return false;
    }
  }
  return true;
}

Model model(std::string_view input, BareLineEndingPolicy policy) {
  Model m;
  bool previous_crlf = true; // the 354 reply followed the client's CRLF
  std::size_t pos = 0;
  while (true) {
    const std::size_t brk = input.find_first_of("\r\n", pos);
    if (brk == std::string_view::npos) {
      return m; // an unfinished line: still reading
    }
    bool crlf = false;
    std::size_t next = brk + 1;
    if (input[brk] == '\r') {
      if (brk + 1 == input.size()) {
        return m; // CR, then we do not know yet
      }
      crlf = input[brk + 1] == '\n';
      next = crlf ? brk + 2 : brk + 1;
    }
    if (!crlf && policy == BareLineEndingPolicy::Reject) {
      m.state = DataState::BareLineEnding;
      return m;
    }
    std::string_view line = input.substr(pos, brk - pos);
    if (line == "." && crlf && previous_crlf) {
      m.state = DataState::Done;
      m.consumed = next;
      return m;
    }
    if (!line.empty() && line.front() == '.') {
      line.remove_prefix(1);
    }
    if (m.lines == 0) {
      m.first_line_is_header = looksLikeHeader(line);
    }
    m.out.append(line);
    m.out.append("\r\n");
    ++m.lines;
    m.longest = std::max(m.longest, line.size());
    if (line.empty() && !m.body_offset) {
      m.body_offset = m.out.size();
    }
    m.normalised = m.normalised || !crlf;
    previous_crlf = crlf;
    pos = next;
  }
}

std::string dotStuff(std::string_view message) {
  std::string out;
  bool line_start = true;
  for (char c : message) {
    if (line_start && c == '.') {
      out += '.';
    }
    out += c;
    line_start = c == '\n';
  }
  out += ".\r\n";
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) {
    return 0;
  }
  constexpr std::size_t LineLimits[] = {0, 0, 4, 5, 7, 16, 78, 992};
  constexpr std::uint64_t SizeLimits[] = {0, 0, 1, 9, 64, 1000, 26214400, 0};
  DataReaderOptions options;
  options.bare_line_endings =
      (data[0] & 1) != 0 ? BareLineEndingPolicy::Normalise : BareLineEndingPolicy::Reject;
  options.long_lines = (data[1] & 1) != 0 ? LongLinePolicy::Reject : LongLinePolicy::Fold;
  options.max_line_length = LineLimits[data[2] % 8];
  options.max_bytes = SizeLimits[data[3] % 8];
  const std::string_view input = upesi::fuzz::asView(data + 5, size - 5);
  const std::vector<std::size_t> chunks = upesi::fuzz::chunkSizes(data[4], input.size(), 17);
  const Run whole = read(options, input, {});
  const Run chunked = read(options, input, chunks);
  FUZZ_CHECK(whole.sameAs(chunked));

  if (whole.state == DataState::Done) {
    FUZZ_CHECK(whole.wire_bytes == whole.consumed);
  }
  if (options.max_bytes != 0) {
    FUZZ_CHECK(whole.out.size() <= options.max_bytes);
  }
  const std::size_t content_limit =
      options.max_line_length == 0 ? 0 : std::max<std::size_t>(options.max_line_length, 4) - 2;
  if (content_limit != 0 && options.long_lines == LongLinePolicy::Fold) {
    std::size_t start = 0;
    for (std::size_t crlf = whole.out.find("\r\n"); crlf != std::string::npos;
         crlf = whole.out.find("\r\n", start)) {
      FUZZ_CHECK(crlf - start <= content_limit);
      start = crlf + 2;
    }
  }

  const Model m = model(input, options.bare_line_endings);
  FUZZ_CHECK(whole.state == m.state);
  if (m.state != DataState::Done) {
    return 0;
  }
  FUZZ_CHECK(whole.consumed == m.consumed);
  FUZZ_CHECK(whole.normalised == m.normalised);
  FUZZ_CHECK(whole.first_line_is_header == m.first_line_is_header);
  const bool too_long = content_limit != 0 && m.longest > content_limit;
  FUZZ_CHECK(whole.line_length_exceeded ==
             (too_long && options.long_lines == LongLinePolicy::Fold));
  FUZZ_CHECK(whole.line_too_long == (too_long && options.long_lines == LongLinePolicy::Reject));
  if (too_long && options.long_lines == LongLinePolicy::Fold) {
    return 0; // the folds change what follows; their bound is checked above
  }
  const bool over_size = options.max_bytes != 0 && m.out.size() > options.max_bytes;
  FUZZ_CHECK(whole.message_bytes == m.out.size());
  FUZZ_CHECK(whole.lines == m.lines);
  FUZZ_CHECK(whole.body_offset == m.body_offset);
  FUZZ_CHECK(m.out.starts_with(whole.out));
  if (over_size) {
    FUZZ_CHECK(whole.outcome == DataOutcome::SizeExceeded);
    return 0;
  }
  if (too_long) {
    FUZZ_CHECK(whole.outcome == DataOutcome::LineTooLong);
    return 0;
  }
  FUZZ_CHECK(whole.outcome == DataOutcome::Accepted);
  FUZZ_CHECK(whole.out == m.out);

  // What was read, sent again, reads the same.
  const std::string resent = dotStuff(whole.out);
  const Run again = read(options, resent, chunks);
  FUZZ_CHECK(again.state == DataState::Done && again.consumed == resent.size());
  FUZZ_CHECK(again.out == whole.out);
  FUZZ_CHECK(!again.normalised);
  return 0;
}
