#include "worker/smtp/bdat_chunks.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

using upesi::smtp::BdatChunkEnd;
using upesi::smtp::BdatChunks;
using upesi::smtp::BdatCommand;
using upesi::smtp::DataOutcome;
using upesi::smtp::DataReader;
using upesi::smtp::DataReaderOptions;
using upesi::smtp::DataState;
using upesi::smtp::parseBdatArgument;
using upesi::smtp::Reply;

namespace {

using namespace std::literals;
using Kind = BdatChunkEnd::Kind;

// One transaction's message sent by BDAT into a DataReader, as the session does it.
class BdatMessage {
public:
  explicit BdatMessage(const DataReaderOptions& options = {})
      : reader_(options, [this](std::string_view bytes) { stored_.append(bytes); }) {}

  /// Sends `bytes` as one chunk, read in pieces cut at `cuts` (ascending offsets).
  BdatChunkEnd chunk(std::string_view bytes, bool last, const std::vector<std::size_t>& cuts = {},
                     std::optional<Reply> refusal = std::nullopt) {
    chunks_.announce({bytes.size(), last}, std::move(refusal));
    if (chunks_.needsDataHook()) {
      chunks_.startMessage();
    }
    chunks_.startReading();
    std::size_t from = 0;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(bytes.size());
    for (std::size_t to : ends) {
      CHECK(chunks_.take(bytes.substr(from, to - from), &reader_) == to - from);
      from = to;
    }
    REQUIRE(chunks_.chunkComplete());
    return chunks_.finishChunk(&reader_);
  }

  BdatChunks& chunks() { return chunks_; }
  DataReader& reader() { return reader_; }
  const std::string& stored() const { return stored_; }

private:
  std::string stored_;
  DataReader reader_;
  BdatChunks chunks_;
};

bool is503(const BdatChunkEnd& end, std::string_view text) {
  return end.kind == Kind::Refused && end.reply.code == 503 && end.reply.lines.size() == 1 &&
         end.reply.lines[0] == text;
}

} // namespace

TEST_CASE("bdat: the size and LAST are read") {
  struct Case {
    std::string_view argument;
    std::uint64_t size;
    bool last;
  };
  for (const Case& c : {Case{"0", 0, false}, Case{"100", 100, false}, Case{"100 LAST", 100, true},
                        Case{"100 last", 100, true}, Case{"0 LaSt", 0, true}, Case{"007", 7, false},
                        Case{"9999999999999999999", 9999999999999999999ULL, false}}) {
    CAPTURE(c.argument);
    auto parsed = parseBdatArgument(c.argument);
    REQUIRE(parsed.has_value());
    CHECK(parsed->size == c.size);
    CHECK(parsed->last == c.last);
  }
}

TEST_CASE("bdat: hostile and malformed arguments are refused") {
  const std::vector<std::string_view> arguments = {"",
                                                   " ",
                                                   "LAST",
                                                   " 5",
                                                   "5 ",
                                                   "5  LAST",
                                                   "5 LAST ",
                                                   "5 LASTX",
                                                   "5 LAS",
                                                   "5 LAST LAST",
                                                   "5\tLAST",
                                                   "5 FIRST",
                                                   "-1",
                                                   "+1",
                                                   "0x10",
                                                   "1e3",
                                                   "1.5",
                                                   "５",
                                                   "5\0"sv,
                                                   "18446744073709551615",
                                                   "18446744073709551616",
                                                   "99999999999999999999",
                                                   "00000000000000000001",
                                                   "999999999999999999999999999999999999"};
  for (std::string_view argument : arguments) {
    CAPTURE(argument);
    CHECK_FALSE(parseBdatArgument(argument).has_value());
  }
}

TEST_CASE("bdat: one LAST chunk is the whole message") {
  BdatMessage m;
  auto end = m.chunk("Subject: x\r\n\r\nbody\r\n", true);
  CHECK(end.kind == Kind::MessageEnded);
  CHECK(m.reader().state() == DataState::Done);
  CHECK(m.reader().outcome() == DataOutcome::Accepted);
  CHECK(m.stored() == "Subject: x\r\n\r\nbody\r\n");
  CHECK_FALSE(m.chunks().reading());
  CHECK_FALSE(m.chunks().messageInProgress());
}

TEST_CASE("bdat: a chunk that is not the last is answered with its size") {
  BdatMessage m;
  auto end = m.chunk("Subject: x\r\n", false);
  CHECK(end.kind == Kind::Received);
  CHECK(end.reply.code == 250);
  CHECK(end.reply.enhanced == "2.0.0");
  CHECK(end.reply.lines == std::vector<std::string>{"12 octets received"});
  CHECK(m.chunks().started());
  CHECK(m.chunks().messageInProgress());
  CHECK(m.chunk("\r\nbody\r\n", true).kind == Kind::MessageEnded);
  CHECK(m.stored() == "Subject: x\r\n\r\nbody\r\n");
}

TEST_CASE("bdat: the bytes after the chunk are not taken") {
  BdatMessage m;
  m.chunks().announce({5, true}, std::nullopt);
  m.chunks().startMessage();
  m.chunks().startReading();
  CHECK_FALSE(m.chunks().chunkComplete());
  CHECK(m.chunks().take("ab", &m.reader()) == 2);
  CHECK(m.chunks().take("c\r\nQUIT\r\n", &m.reader()) == 3);
  CHECK(m.chunks().chunkComplete());
  CHECK(m.chunks().take("QUIT\r\n", &m.reader()) == 0);
  CHECK(m.chunks().finishChunk(&m.reader()).kind == Kind::MessageEnded);
  CHECK(m.stored() == "abc\r\n");
}

TEST_CASE("bdat: dots at line starts are data, in a chunk and across chunk boundaries") {
  const std::string message = ".\r\n..two\r\n.hidden\r\nend\r\n.\r\n";
  for (std::size_t split = 0; split <= message.size(); ++split) {
    CAPTURE(split);
    BdatMessage m;
    CHECK(m.chunk(std::string_view(message).substr(0, split), false).kind == Kind::Received);
    CHECK(m.chunk(std::string_view(message).substr(split), true).kind == Kind::MessageEnded);
    CHECK(m.stored() == message);
  }
}

TEST_CASE("bdat: chunks split across reads and CRLF split across chunks") {
  const std::string message = "From: a@b\r\n\r\nline one\r\n.dot\r\nlast";
  for (std::size_t split = 0; split <= message.size(); ++split) {
    for (std::size_t cut = 0; cut <= split; ++cut) {
      CAPTURE(split);
      CAPTURE(cut);
      BdatMessage m;
      auto first = m.chunk(std::string_view(message).substr(0, split), false, {cut});
      REQUIRE(first.kind == Kind::Received);
      auto rest = std::string_view(message).substr(split);
      auto end = m.chunk(rest, true, {rest.size() / 2});
      REQUIRE(end.kind == Kind::MessageEnded);
      // A message not ending in CRLF gets one.
      CHECK(m.stored() == message + "\r\n");
    }
  }
}

TEST_CASE("bdat: a chunk of size 0 is complete at once, and BDAT 0 LAST ends the message") {
  BdatMessage m;
  CHECK(m.chunk("", false).kind == Kind::Received);
  CHECK(m.chunk("hello\r\n", false).kind == Kind::Received);
  CHECK(m.chunk("", true).kind == Kind::MessageEnded);
  CHECK(m.stored() == "hello\r\n");

  BdatMessage empty;
  CHECK(empty.chunk("", true).kind == Kind::MessageEnded);
  CHECK(empty.stored().empty());
}

TEST_CASE("bdat: a bare LF fails the message, and the chunks after it are refused") {
  BdatMessage m;
  auto end = m.chunk("a\nb\r\n", false, {1});
  CHECK(end.kind == Kind::BareLineEnding);
  CHECK(end.reply.code == 451);
  CHECK(end.reply.enhanced == "4.5.0");
  CHECK(m.reader().state() == DataState::BareLineEnding);

  auto next = m.chunk("c\r\n", true);
  CHECK(is503(next, "An earlier chunk failed: RSET and start again"));

  // RSET: the next message starts afresh.
  m.chunks().endTransaction();
  CHECK_FALSE(m.chunks().started());
  m.chunks().announce({3, true}, std::nullopt);
  CHECK(m.chunks().needsDataHook());
}

TEST_CASE("bdat: a bare CR that ends the LAST chunk fails the message") {
  BdatMessage m;
  auto end = m.chunk("abc\r", true);
  CHECK(end.kind == Kind::BareLineEnding);
  CHECK(end.reply.code == 451);
  CHECK(is503(m.chunk("x", true), "An earlier chunk failed: RSET and start again"));
}

TEST_CASE("bdat: a chunk refused by the session is read to its end and dropped") {
  BdatMessage m;
  auto end = m.chunk("Subject: x\r\n", false, {4}, Reply{503, "5.5.1", {"RCPT required first"}});
  CHECK(is503(end, "RCPT required first"));
  CHECK(m.stored().empty());
  CHECK_FALSE(m.chunks().started());
  CHECK_FALSE(m.chunks().reading());
  // That refusal was for one chunk only: the message has not failed.
  m.chunks().announce({3, true}, std::nullopt);
  CHECK(m.chunks().needsDataHook());
}

TEST_CASE("bdat: a message the data hook refused refuses every chunk of it") {
  BdatMessage m;
  m.chunks().announce({5, false}, std::nullopt);
  REQUIRE(m.chunks().needsDataHook());
  m.chunks().failMessage(Reply{554, "5.7.1", {"Message denied"}});
  m.chunks().startReading();
  CHECK(m.chunks().take("hello", &m.reader()) == 5);
  auto end = m.chunks().finishChunk(&m.reader());
  CHECK(end.kind == Kind::Refused);
  CHECK(end.reply.code == 554);
  CHECK(is503(m.chunk("more\r\n", true), "An earlier chunk failed: RSET and start again"));
  CHECK(m.stored().empty());
}

TEST_CASE("bdat: a huge announced size is read as long as bytes come") {
  DataReaderOptions options;
  options.max_bytes = 100;
  BdatMessage m(options);
  m.chunks().announce({9999999999999999999ULL, false}, std::nullopt);
  m.chunks().startMessage();
  m.chunks().startReading();
  const std::string line = std::string(98, 'x') + "\r\n";
  for (int i = 0; i < 10000; ++i) {
    REQUIRE(m.chunks().take(line, &m.reader()) == 100);
  }
  CHECK_FALSE(m.chunks().chunkComplete());
  CHECK(m.chunks().reading());
  CHECK(m.chunks().messageInProgress());
  CHECK(m.stored().size() <= 100);
  CHECK(m.reader().messageBytes() == 1000000);
}

TEST_CASE("bdat: past the message size the chunks are still read, and the LAST says so") {
  DataReaderOptions options;
  options.max_bytes = 10;
  BdatMessage m(options);
  CHECK(m.chunk("0123456789\r\n", false).kind == Kind::Received);
  CHECK(m.chunk("more\r\n", true).kind == Kind::MessageEnded);
  CHECK(m.reader().outcome() == DataOutcome::SizeExceeded);
}

TEST_CASE("bdat: with bare line endings normalised, a dot after a bare CR is data") {
  DataReaderOptions options;
  options.bare_line_endings = upesi::smtp::BareLineEndingPolicy::Normalise;
  const std::string message = "a\r.b\r\n\r.\r\nc\r\r\n.d\r\n";
  for (std::size_t split = 0; split <= message.size(); ++split) {
    CAPTURE(split);
    BdatMessage m(options);
    CHECK(m.chunk(std::string_view(message).substr(0, split), false).kind == Kind::Received);
    CHECK(m.chunk(std::string_view(message).substr(split), true).kind == Kind::MessageEnded);
    CHECK(m.stored() == "a\r\n.b\r\n\r\n.\r\nc\r\n\r\n.d\r\n");
  }
}

TEST_CASE("bdat: with bare line endings normalised, a bare CR may end the LAST chunk") {
  DataReaderOptions options;
  options.bare_line_endings = upesi::smtp::BareLineEndingPolicy::Normalise;
  BdatMessage m(options);
  CHECK(m.chunk("abc\r", true).kind == Kind::MessageEnded);
  CHECK(m.stored() == "abc\r\n\r\n");
}
