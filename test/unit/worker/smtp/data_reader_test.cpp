#include "worker/smtp/data_reader.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using upesi::smtp::BareLineEndingPolicy;
using upesi::smtp::DataFeedResult;
using upesi::smtp::DataOutcome;
using upesi::smtp::DataReader;
using upesi::smtp::DataReaderOptions;
using upesi::smtp::DataState;
using upesi::smtp::LongLinePolicy;

namespace {

using namespace std::string_literals;

struct Outcome {
  std::string out;
  std::size_t consumed = 0; // bytes of the input used, over all chunks
  std::size_t sink_calls = 0;
  DataState state = DataState::Reading;
  DataOutcome outcome = DataOutcome::Accepted;
  std::uint64_t message_bytes = 0;
  std::uint64_t wire_bytes = 0;
  std::uint64_t lines = 0;
  bool first_line_header = false;
  bool line_length_exceeded = false;
  bool normalised = false;
  std::optional<std::uint64_t> body_offset;

  // What was stored of a refused message depends on how the input was cut (the reader stops
  // emitting at a run boundary), so it is compared only for accepted messages.
  bool operator==(const Outcome& o) const {
    // After a bare line ending the reader stops where it is: the byte count is not meaningful.
    bool same_out = outcome != DataOutcome::Accepted || out == o.out;
    bool same_bytes = state == DataState::BareLineEnding || message_bytes == o.message_bytes;
    return same_out && same_bytes && consumed == o.consumed && state == o.state &&
           outcome == o.outcome && wire_bytes == o.wire_bytes && lines == o.lines &&
           first_line_header == o.first_line_header &&
           line_length_exceeded == o.line_length_exceeded && normalised == o.normalised &&
           body_offset == o.body_offset;
  }
};

} // namespace

namespace doctest {
template <> struct StringMaker<Outcome> {
  static String convert(const Outcome& o) {
    std::string s =
        "{out=" + std::to_string(o.out.size()) + "B consumed=" + std::to_string(o.consumed) +
        " state=" + std::to_string(static_cast<int>(o.state)) +
        " outcome=" + std::to_string(static_cast<int>(o.outcome)) +
        " bytes=" + std::to_string(o.message_bytes) + " wire=" + std::to_string(o.wire_bytes) +
        " lines=" + std::to_string(o.lines) + " hdr=" + std::to_string(o.first_line_header) +
        " fold=" + std::to_string(o.line_length_exceeded) +
        " norm=" + std::to_string(o.normalised) +
        " body=" + (o.body_offset ? std::to_string(*o.body_offset) : std::string("none")) + "}";
    return String(s.c_str());
  }
};
} // namespace doctest

namespace {

// Feed `input` cut at the given offsets (ascending), stopping like a caller would once the
// reader leaves Reading.
Outcome feedCuts(std::string_view input, const std::vector<std::size_t>& cuts,
                 const DataReaderOptions& options = {}) {
  Outcome o;
  DataReader reader(options, [&](std::string_view bytes) {
    CHECK(!bytes.empty());
    o.out.append(bytes);
    ++o.sink_calls;
  });
  std::size_t pos = 0;
  std::vector<std::size_t> bounds = cuts;
  bounds.push_back(input.size());
  for (std::size_t cut : bounds) {
    if (cut < pos) {
      continue;
    }
    std::string_view chunk = input.substr(pos, cut - pos);
    DataFeedResult r = reader.feed(chunk);
    CHECK(r.consumed <= chunk.size());
    o.consumed += r.consumed;
    o.state = r.state;
    if (r.state != DataState::Reading) {
      CHECK(r.state == reader.state());
      // Once finished the reader takes nothing more.
      DataFeedResult again = reader.feed("more\r\n.\r\n");
      CHECK(again.consumed == 0);
      CHECK(again.state == r.state);
      break;
    }
    CHECK(r.consumed == chunk.size());
    pos = cut;
  }
  o.outcome = reader.outcome();
  o.message_bytes = reader.messageBytes();
  o.wire_bytes = reader.wireBytes();
  o.lines = reader.lines();
  o.first_line_header = reader.firstLineIsHeader();
  o.line_length_exceeded = reader.lineLengthExceeded();
  o.normalised = reader.normalisedLineEndings();
  o.body_offset = reader.bodyOffset();
  return o;
}

Outcome feedWhole(std::string_view input, const DataReaderOptions& options = {}) {
  return feedCuts(input, {}, options);
}

Outcome feedBytewise(std::string_view input, const DataReaderOptions& options = {}) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < input.size(); ++i) {
    cuts.push_back(i);
  }
  return feedCuts(input, cuts, options);
}

DataReaderOptions normalising() {
  DataReaderOptions o;
  o.bare_line_endings = BareLineEndingPolicy::Normalise;
  return o;
}

// Every way of cutting `input` once and twice, and byte by byte, gives the same result as one
// chunk. Returns that result.
Outcome checkSplitInvariance(std::string_view input, const DataReaderOptions& options = {}) {
  Outcome whole = feedWhole(input, options);
  for (std::size_t i = 0; i <= input.size(); ++i) {
    Outcome split = feedCuts(input, {i}, options);
    INFO("split at ", i);
    // Output is the same bytes; the number of sink calls may differ.
    CHECK(split == whole);
  }
  if (input.size() <= 40) {
    for (std::size_t i = 0; i <= input.size(); ++i) {
      for (std::size_t j = i; j <= input.size(); ++j) {
        Outcome split = feedCuts(input, {i, j}, options);
        INFO("split at ", i, " and ", j);
        CHECK(split == whole);
      }
    }
  }
  CHECK(feedBytewise(input, options) == whole);
  return whole;
}

} // namespace

TEST_CASE("data: a plain message") {
  std::string in = "Subject: hi\r\nFrom: a@b\r\n\r\nbody line\r\n.\r\n";
  Outcome o = checkSplitInvariance(in);
  CHECK(o.state == DataState::Done);
  CHECK(o.outcome == DataOutcome::Accepted);
  CHECK(o.out == "Subject: hi\r\nFrom: a@b\r\n\r\nbody line\r\n");
  CHECK(o.consumed == in.size());
  CHECK(o.wire_bytes == in.size());
  CHECK(o.message_bytes == o.out.size());
  CHECK(o.lines == 4);
  CHECK(o.first_line_header);
  REQUIRE(o.body_offset.has_value());
  CHECK(*o.body_offset == std::string("Subject: hi\r\nFrom: a@b\r\n\r\n").size());
}

TEST_CASE("data: an unchanged chunk goes to the sink in one call") {
  Outcome o = feedWhole("a\r\nb\r\nc\r\nd\r\n.\r\n");
  CHECK(o.out == "a\r\nb\r\nc\r\nd\r\n");
  CHECK(o.sink_calls == 1);
}

TEST_CASE("data: a first line of a single dot ends DATA at once") {
  Outcome o = checkSplitInvariance(".\r\nQUIT\r\n");
  CHECK(o.state == DataState::Done);
  CHECK(o.out.empty());
  CHECK(o.consumed == 3);
  CHECK(o.lines == 0);
  CHECK(o.message_bytes == 0);
  CHECK_FALSE(o.body_offset.has_value());
  CHECK_FALSE(o.first_line_header);
}

TEST_CASE("data: the terminator split at every position, with pipelined commands after it") {
  const std::vector<std::string> inputs = {
      "x\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n",
      "\r\n.\r\n",
      "a\r\n..\r\n.\r\nQUIT\r\n",
      "..\r\n...\r\n.x\r\n.\r\n.\r\n",
      "Subject: x\r\n\r\n.\r\n\r\n",
      "line.\r\n.\r\nRSET\r\n",
  };
  for (const std::string& in : inputs) {
    INFO("input: ", in);
    Outcome o = checkSplitInvariance(in);
    CHECK(o.state == DataState::Done);
    // The first CRLF.CRLF (or a leading ".\r\n") is where DATA stops.
    std::size_t end = in.starts_with(".\r\n") ? 3 : in.find("\r\n.\r\n") + 5;
    CHECK(o.consumed == end);
    CHECK(o.wire_bytes == end);
  }
}

TEST_CASE("data: the terminator split across many chunks of a long message") {
  std::string in;
  for (int i = 0; i < 200; ++i) {
    in += "line number " + std::to_string(i) + "\r\n";
    if (i % 7 == 0) {
      in += "..stuffed\r\n";
    }
  }
  in += ".\r\nQUIT\r\n";
  Outcome whole = feedWhole(in);
  for (std::size_t i = 0; i <= in.size(); i += 3) {
    CHECK(feedCuts(in, {i, i + 1, i + 2}) == whole);
  }
  CHECK(whole.consumed == in.size() - 6);
}

TEST_CASE("data: dot-unstuffing") {
  CHECK(checkSplitInvariance("..x\r\n.\r\n").out == ".x\r\n");
  CHECK(checkSplitInvariance("..\r\n.\r\n").out == ".\r\n");
  CHECK(checkSplitInvariance("...\r\n.\r\n").out == "..\r\n");
  CHECK(checkSplitInvariance("a\r\n..\r\nb\r\n.\r\n").out == "a\r\n.\r\nb\r\n");
  // A lone leading dot that was not stuffed is still removed (RFC 5321 4.5.2).
  CHECK(checkSplitInvariance(".x\r\n.\r\n").out == "x\r\n");
  // Only the first dot of a line, and only at the start of a line.
  CHECK(checkSplitInvariance("a.b\r\n.a.\r\n.\r\n").out == "a.b\r\na.\r\n");
}

TEST_CASE("data: a dot line inside a longer line is data") {
  Outcome o = checkSplitInvariance("abc.\r\n x.\r\n.\r\n");
  CHECK(o.out == "abc.\r\n x.\r\n");
  CHECK(o.state == DataState::Done);
  // " .\r\n" is not a terminator either.
  o = checkSplitInvariance("a\r\n .\r\nb\r\n.\r\n");
  CHECK(o.out == "a\r\n .\r\nb\r\n");
}

TEST_CASE("data: NUL and 8-bit bytes pass through as data when NUL is allowed") {
  std::string in = "a\0b\r\n\0\r\n\xff\xfe.\r\n\0.\r\n.\r\n"s;
  Outcome o = checkSplitInvariance(in);
  CHECK(o.state == DataState::Done);
  CHECK(o.outcome == DataOutcome::Accepted);
  CHECK(o.out == "a\0b\r\n\0\r\n\xff\xfe.\r\n\0.\r\n"s);
}

TEST_CASE("data: with reject_nul a NUL anywhere refuses the message after the final dot") {
  DataReaderOptions options;
  options.reject_nul = true;
  for (std::string in :
       {"a\0b\r\n.\r\nQUIT\r\n"s, "\0\r\n.\r\nQUIT\r\n"s, "abc\r\n.\0\r\n.\r\nQUIT\r\n"s}) {
    INFO("input: ", in);
    Outcome o = checkSplitInvariance(in, options);
    CHECK(o.state == DataState::Done);
    CHECK(o.outcome == DataOutcome::NulCharacter);
    CHECK(o.out.find('\0') == std::string::npos); // nothing from the NUL on is stored
    CHECK(o.consumed == in.size() - 6);           // the pipelined QUIT is left
  }
  Outcome clean = checkSplitInvariance("a\r\n.\r\n", options);
  CHECK(clean.outcome == DataOutcome::Accepted);
  DataReaderOptions small = options;
  small.max_bytes = 4;
  CHECK(feedWhole("aaaa\0aaaa\r\n.\r\n"s, small).outcome == DataOutcome::SizeExceeded);
}

TEST_CASE("data: smuggling variants are refused by default") {
  struct Case {
    std::string input;
    std::size_t consumed; // up to and including the offending byte
  };
  const std::vector<Case> cases = {
      {"a\n.\nMAIL FROM:<x@y>\r\n", 2},      // "\n.\n"
      {"a\r\n.\nMAIL FROM:<x@y>\r\n", 5},    // "\r\n.\n"
      {"a\n.\r\nMAIL FROM:<x@y>\r\n", 2},    // "\n.\r\n"
      {"a\r.\rMAIL FROM:<x@y>\r\n", 2},      // "\r.\r": the CR is consumed, the dot is not
      {".\n", 2},                            // first line "." with bare LF
      {".\r.\r\n", 2},                       // first line "." with bare CR
      {"a\r\n.\r.\r\n.\r\n", 5},             // "." followed by a bare CR
      {"a\rb\r\n.\r\n", 2},                  // bare CR in the middle of a line
      {"a\r\r\n.\r\n", 2},                   // CR CR LF
      {"\n", 1},                             // bare LF as the very first byte
      {"Subject: x\r\n\r\nbody\n.\r\n", 19}, // bare LF at the end of a body line
  };
  for (const Case& c : cases) {
    INFO("input: ", c.input);
    Outcome o = checkSplitInvariance(c.input);
    CHECK(o.state == DataState::BareLineEnding);
    CHECK(o.outcome == DataOutcome::BareLineEnding);
    CHECK(o.consumed == c.consumed);
    CHECK(o.wire_bytes == c.consumed);
  }
}

TEST_CASE("data: bare line endings normalised never end DATA") {
  struct Case {
    std::string input;
    std::string out;
    std::size_t consumed;
  };
  const std::vector<Case> cases = {
      {"a\nb\r\n.\r\n", "a\r\nb\r\n", 8},
      // "\n.\n": the dot line is data (an empty line once unstuffed).
      {"a\n.\nb\r\n.\r\nQUIT\r\n", "a\r\n\r\nb\r\n", 10},
      {"a\r\n.\nb\r\n.\r\n", "a\r\n\r\nb\r\n", 11},
      // "\n.\r\n": not CRLF.CRLF on the wire.
      {"a\n.\r\nb\r\n.\r\n", "a\r\n\r\nb\r\n", 11},
      {"a\r.\rb\r\n.\r\n", "a\r\n\r\nb\r\n", 10},
      {"a\r\r\n.\r\n", "a\r\n\r\n", 7},
      {".\n.\r\n.\r\n", "\r\n\r\n", 8},
      {"a\r\n.\r.\r\n.\r\n", "a\r\n\r\n\r\n", 11},
  };
  for (const Case& c : cases) {
    INFO("input: ", c.input);
    Outcome o = checkSplitInvariance(c.input, normalising());
    CHECK(o.state == DataState::Done);
    CHECK(o.outcome == DataOutcome::Accepted);
    CHECK(o.out == c.out);
    CHECK(o.consumed == c.consumed);
    CHECK(o.normalised);
  }
  // A clean message under Normalise is not flagged.
  Outcome clean = feedWhole("a\r\n.\r\n", normalising());
  CHECK_FALSE(clean.normalised);
}

TEST_CASE("data: line length at and past the limit, folded") {
  DataReaderOptions opt;
  opt.max_line_length = 992;
  std::string line990(990, 'x');
  Outcome o = feedWhole(line990 + "\r\n.\r\n", opt);
  CHECK(o.out == line990 + "\r\n");
  CHECK_FALSE(o.line_length_exceeded);

  std::string line991(991, 'y');
  o = feedWhole(line991 + "\r\n.\r\n", opt);
  CHECK(o.out == std::string(990, 'y') + "\r\n y\r\n");
  CHECK(o.line_length_exceeded);
  CHECK(o.outcome == DataOutcome::Accepted);
  CHECK(o.lines == 2);

  // Small limits make the split positions cheap to check exhaustively.
  DataReaderOptions small;
  small.max_line_length = 6; // 4 bytes of content
  o = checkSplitInvariance("abcdefghij\r\n..klmno\r\nab\r\n.\r\n", small);
  CHECK(o.out == "abcd\r\n efg\r\n hij\r\n.klm\r\n no\r\nab\r\n");
  CHECK(o.line_length_exceeded);
}

TEST_CASE("data: a 1 MB line is folded without growing without bound") {
  std::string big(1 << 20, 'z');
  std::string in = "Subject: big\r\n\r\n" + big + "\r\n.\r\n";
  DataReaderOptions opt;
  opt.max_bytes = 0;
  std::vector<std::size_t> cuts;
  for (std::size_t i = 4096; i < in.size(); i += 4096) {
    cuts.push_back(i);
  }
  Outcome o = feedCuts(in, cuts, opt);
  CHECK(o.state == DataState::Done);
  CHECK(o.line_length_exceeded);
  // Every stored line is at most 992 bytes with its CRLF, and unfolding gives the line back.
  std::string unfolded;
  std::size_t pos = 0;
  bool all_short = true;
  while (pos < o.out.size()) {
    std::size_t eol = o.out.find("\r\n", pos);
    REQUIRE(eol != std::string::npos);
    all_short = all_short && (eol + 2 - pos <= 992);
    pos = eol + 2;
  }
  CHECK(all_short);
  std::size_t body = o.out.find("\r\n\r\n") + 4;
  for (std::size_t i = body; i < o.out.size(); ++i) {
    if (o.out.compare(i, 3, "\r\n ") == 0) {
      i += 2;
      continue;
    }
    unfolded.push_back(o.out[i]);
  }
  CHECK(unfolded == big + "\r\n");
  CHECK(feedWhole(in, opt) == o);
}

TEST_CASE("data: a 1 MB line is refused after the end under the Reject policy") {
  std::string big(1 << 20, 'z');
  std::string in = "a\r\n" + big + "\r\nb\r\n.\r\nQUIT\r\n";
  DataReaderOptions opt;
  opt.long_lines = LongLinePolicy::Reject;
  opt.max_bytes = 0;
  Outcome o = feedCuts(in, {1000, 5000, 70000, in.size() - 8}, opt);
  CHECK(o.state == DataState::Done);
  CHECK(o.outcome == DataOutcome::LineTooLong);
  CHECK(o.consumed == in.size() - 6);
  CHECK(o.out.size() <= 3); // nothing of the long line is stored
  CHECK_FALSE(o.line_length_exceeded);
  // A line at the limit is fine.
  std::string ok = std::string(990, 'q') + "\r\n.\r\n";
  CHECK(feedWhole(ok, opt).outcome == DataOutcome::Accepted);
  std::string over = std::string(991, 'q') + "\r\n.\r\n";
  CHECK(feedWhole(over, opt).outcome == DataOutcome::LineTooLong);
}

TEST_CASE("data: no line length limit") {
  DataReaderOptions opt;
  opt.max_line_length = 0;
  opt.max_bytes = 0;
  std::string big(200000, 'w');
  Outcome o = feedWhole(big + "\r\n.\r\n", opt);
  CHECK(o.out == big + "\r\n");
  CHECK_FALSE(o.line_length_exceeded);
}

TEST_CASE("data: tiny max_line_length is raised so folding always progresses") {
  DataReaderOptions opt;
  opt.max_line_length = 1;
  Outcome o = checkSplitInvariance("abcde\r\n.\r\n", opt);
  CHECK(o.state == DataState::Done);
  CHECK(o.out == "ab\r\n c\r\n d\r\n e\r\n");
}

TEST_CASE("data: size limit exactly at and just over the boundary") {
  std::string msg = "Subject: s\r\n\r\n0123456789\r\n"; // stored form
  std::string in = msg + ".\r\nQUIT\r\n";
  DataReaderOptions opt;

  opt.max_bytes = msg.size();
  Outcome at = checkSplitInvariance(in, opt);
  CHECK(at.outcome == DataOutcome::Accepted);
  CHECK(at.out == msg);

  opt.max_bytes = msg.size() - 1;
  Outcome over = checkSplitInvariance(in, opt);
  CHECK(over.state == DataState::Done);
  CHECK(over.outcome == DataOutcome::SizeExceeded);
  CHECK(over.out.size() <= opt.max_bytes);
  CHECK(over.message_bytes == msg.size()); // counting goes on
  CHECK(over.consumed == msg.size() + 3);  // read to the dot, not past it

  // Stuffing dots do not count: the limit is on the stored message.
  opt.max_bytes = 5;
  CHECK(feedWhole("..ab\r\n.\r\n", opt).outcome == DataOutcome::Accepted);
  opt.max_bytes = 4;
  CHECK(feedWhole("..ab\r\n.\r\n", opt).outcome == DataOutcome::SizeExceeded);
}

TEST_CASE("data: size beats line length when both are exceeded") {
  DataReaderOptions opt;
  opt.max_bytes = 10;
  opt.long_lines = LongLinePolicy::Reject;
  opt.max_line_length = 8;
  Outcome o = feedWhole(std::string(50, 'a') + "\r\n.\r\n", opt);
  CHECK(o.outcome == DataOutcome::SizeExceeded);
}

TEST_CASE("data: header detection on the first line") {
  CHECK(feedWhole("Subject: x\r\n.\r\n").first_line_header);
  CHECK(checkSplitInvariance("X-A:\r\n.\r\n").first_line_header);
  CHECK_FALSE(feedWhole("hello world\r\n.\r\n").first_line_header);
  CHECK_FALSE(feedWhole(": x\r\n.\r\n").first_line_header);
  CHECK_FALSE(feedWhole("From foo@bar Mon\r\n.\r\n").first_line_header);
  CHECK_FALSE(feedWhole(" folded: x\r\n.\r\n").first_line_header);
  CHECK_FALSE(feedWhole("\r\nbody\r\n.\r\n").first_line_header);
  CHECK_FALSE(feedWhole("Subject\r\nx: y\r\n.\r\n").first_line_header);
}

TEST_CASE("data: header/body boundary") {
  Outcome o = checkSplitInvariance("A: b\r\n\r\n\r\nbody\r\n.\r\n");
  REQUIRE(o.body_offset.has_value());
  CHECK(*o.body_offset == 8);
  o = feedWhole("\r\nbody\r\n.\r\n");
  REQUIRE(o.body_offset.has_value());
  CHECK(*o.body_offset == 2);
  o = feedWhole("A: b\r\nC: d\r\n.\r\n");
  CHECK_FALSE(o.body_offset.has_value());
  // A stuffed ".." line is stored as "." and is not the empty line.
  o = feedWhole("A: b\r\n..\r\n\r\n.\r\n");
  REQUIRE(o.body_offset.has_value());
  CHECK(*o.body_offset == 11);
}

TEST_CASE("data: input without a terminator keeps reading") {
  Outcome o = feedWhole("a\r\nb\r\n.");
  CHECK(o.state == DataState::Reading);
  CHECK(o.consumed == 7);
  CHECK(o.out == "a\r\nb\r\n");
  o = feedWhole("a\r\n.\r");
  CHECK(o.state == DataState::Reading);
  CHECK(o.out == "a\r\n");
  o = feedWhole("");
  CHECK(o.state == DataState::Reading);
}

namespace {

// A line-based model of the reader for CRLF-only input: split into lines, the first "." line
// ends DATA, a leading dot is removed.
std::optional<std::string> modelUnstuff(const std::string& in, std::size_t& consumed) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    std::size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) {
      return std::nullopt;
    }
    std::string line = in.substr(pos, eol - pos);
    pos = eol + 2;
    if (line == ".") {
      consumed = pos;
      return out;
    }
    if (!line.empty() && line[0] == '.') {
      line.erase(0, 1);
    }
    out += line + "\r\n";
  }
}

} // namespace

TEST_CASE("data: random CRLF messages match a line-based model under random chunking") {
  std::mt19937 rng(12345);
  const std::string alphabet = "a.:\r\n \0"s;
  for (int round = 0; round < 300; ++round) {
    std::string in;
    int lines = static_cast<int>(rng() % 12);
    for (int l = 0; l < lines; ++l) {
      int len = static_cast<int>(rng() % 6);
      for (int k = 0; k < len; ++k) {
        char c = alphabet[rng() % 4 == 0 ? 1 : rng() % alphabet.size()];
        if (c == '\r' || c == '\n') {
          c = 'b';
        }
        in.push_back(c);
      }
      in += "\r\n";
    }
    in += ".\r\ntail";
    std::size_t want_consumed = 0;
    std::optional<std::string> model = modelUnstuff(in, want_consumed);
    REQUIRE(model.has_value());
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < in.size(); ++i) {
      if (rng() % 3 == 0) {
        cuts.push_back(i);
      }
    }
    Outcome o = feedCuts(in, cuts);
    INFO("input: ", in);
    CHECK(o.state == DataState::Done);
    CHECK(o.out == *model);
    CHECK(o.consumed == want_consumed);
  }
}

TEST_CASE("data: random hostile bytes are split-invariant under both policies") {
  std::mt19937 rng(777);
  const std::string alphabet = "\r\n.\r\n.a:\0 "s;
  for (int round = 0; round < 150; ++round) {
    std::string in;
    std::size_t len = rng() % 30;
    for (std::size_t k = 0; k < len; ++k) {
      in.push_back(alphabet[rng() % alphabet.size()]);
    }
    in += "\r\n.\r\n";
    INFO("input: ", in);
    DataReaderOptions small;
    small.max_line_length = 5;
    Outcome rejected = checkSplitInvariance(in, small);
    CHECK(rejected.state != DataState::Reading);
    DataReaderOptions norm = normalising();
    norm.max_line_length = 5;
    Outcome normalised = checkSplitInvariance(in, norm);
    CHECK(normalised.state == DataState::Done);
    // Normalised output has no bare CR or LF.
    for (std::size_t i = 0; i < normalised.out.size(); ++i) {
      if (normalised.out[i] == '\r') {
        CHECK(i + 1 < normalised.out.size());
        CHECK(normalised.out[i + 1] == '\n');
      }
      if (normalised.out[i] == '\n') {
        CHECK(i > 0);
        CHECK(normalised.out[i - 1] == '\r');
      }
    }
    // Normalised output never holds a line that a peer could read as a terminator once the
    // message is dot-stuffed again, and it ends on a line boundary.
    if (!normalised.out.empty()) {
      CHECK(normalised.out.ends_with("\r\n"));
    }
  }
}
