#include "worker/smtp/bdat_chunks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <strings.h>
#include <utility>

namespace upesi::smtp {

std::optional<BdatCommand> parseBdatArgument(std::string_view argument) {
  BdatCommand out;
  auto space = argument.find(' ');
  std::string_view size = argument.substr(0, space);
  if (size.empty() || size.size() > 19) {
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), out.size);
  if (ec != std::errc() || end != size.data() + size.size()) {
    return std::nullopt;
  }
  if (space != std::string_view::npos) {
    std::string_view rest = argument.substr(space + 1);
    if (rest.size() != 4 || strncasecmp(rest.data(), "LAST", 4) != 0) {
      return std::nullopt;
    }
    out.last = true;
  }
  return out;
}

void BdatChunks::announce(const BdatCommand& command, std::optional<Reply> refusal) {
  remaining_ = command.size;
  chunk_size_ = command.size;
  last_ = command.last;
  refusal_ = std::move(refusal);
  if (!refusal_ && failed_) {
    refusal_ = Reply{503, "5.5.1", {"An earlier chunk failed: RSET and start again"}};
  }
}

void BdatChunks::startMessage() {
  started_ = true;
  raw_at_ = RawAt::LineStart;
}

void BdatChunks::failMessage(Reply refusal) {
  refusal_ = std::move(refusal);
  failed_ = true;
}

std::size_t BdatChunks::take(std::string_view input, DataReader* reader) {
  auto taken = static_cast<std::size_t>(std::min<std::uint64_t>(input.size(), remaining_));
  if (!refusal_ && reader != nullptr) {
    feed(input.substr(0, taken), *reader);
  }
  remaining_ -= taken;
  return taken;
}

void BdatChunks::feed(std::string_view raw, DataReader& reader) {
  // Dot-stuff: a line starting with "." gets another, which the reader takes off again. A line
  // starts after an LF, and after a bare CR too, which the reader may take for a line end.
  while (!raw.empty() && reader.state() == DataState::Reading) {
    if (raw_at_ != RawAt::Text && raw.front() == '.') {
      reader.feed(".");
    }
    auto end = raw.find_first_of("\r\n");
    std::size_t run = raw.size();
    if (end != std::string_view::npos) {
      const bool crlf = raw[end] == '\r' && end + 1 < raw.size() && raw[end + 1] == '\n';
      run = crlf ? end + 2 : end + 1;
    }
    reader.feed(raw.substr(0, run));
    raw_at_ = end == std::string_view::npos ? RawAt::Text
              : raw[run - 1] == '\n'        ? RawAt::LineStart
                                            : RawAt::Cr;
    raw.remove_prefix(run);
  }
}

BdatChunkEnd BdatChunks::finishChunk(DataReader* reader) {
  assert(chunkComplete());
  reading_ = false;
  if (refusal_) {
    BdatChunkEnd end{BdatChunkEnd::Kind::Refused, std::move(*refusal_)};
    refusal_.reset();
    return end;
  }
  assert(reader != nullptr);
  if (reader->state() == DataState::BareLineEnding) {
    failed_ = true;
    return {BdatChunkEnd::Kind::BareLineEnding,
            Reply{451,
                  "4.5.0",
                  {"Bare CR or LF in message data: only CRLF line ends are accepted (see RFC "
                   "5321 2.3.8)"}}};
  }
  if (!last_) {
    return {BdatChunkEnd::Kind::Received,
            Reply{250, "2.0.0", {fmt::format("{} octets received", chunk_size_)}}};
  }
  // The last chunk: end the message as the final dot of DATA would.
  if (raw_at_ != RawAt::LineStart) {
    feed("\r\n", *reader);
  }
  reader->feed(".\r\n");
  if (reader->state() != DataState::Done) {
    // A bare CR at the chunk's end, seen only now that a line end follows it.
    failed_ = true;
    return {
        BdatChunkEnd::Kind::BareLineEnding,
        Reply{451, "4.5.0", {"Bare CR or LF in message data: only CRLF line ends are accepted"}}};
  }
  return {BdatChunkEnd::Kind::MessageEnded, {}};
}

void BdatChunks::endTransaction() {
  started_ = false;
  failed_ = false;
}

} // namespace upesi::smtp
