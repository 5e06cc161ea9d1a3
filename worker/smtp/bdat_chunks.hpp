// The chunk bookkeeping of BDAT (RFC 3030 CHUNKING) for one transaction: what "BDAT <size>
// [LAST]" announces, how much of the chunk is still to come, and the raw chunk bytes turned
// into the dot-stuffed stream the DataReader reads for DATA, so every rule about DATA holds for
// BDAT as well. No socket, no hooks: the session feeds it input and answers what it says.
//
// Rules:
//  - A chunk is exactly the octets announced and is always read to its end, refused or not, so
//    the client's stream stays in step.
//  - A refused chunk's bytes are dropped. Once the message has failed (its data hook refused it,
//    or a bare CR or LF), every later chunk of the transaction is refused too.
//  - The LAST chunk ends the message as DATA's final dot would; a message not ending in CRLF
//    gets one.
#pragma once

#include "worker/smtp/data_reader.hpp"
#include "worker/smtp/reply.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace upesi::smtp {

struct BdatCommand {
  std::uint64_t size = 0;
  bool last = false;
};

/// "<size>" or "<size> LAST" (any case), a size of at most 19 digits that fits in 64 bits.
std::optional<BdatCommand> parseBdatArgument(std::string_view argument);

/// How a chunk ended, and what to answer.
struct BdatChunkEnd {
  enum class Kind {
    Refused,        // the chunk was refused: `reply`
    BareLineEnding, // a bare CR or LF: the message fails; `reply`
    Received,       // a chunk of a message that goes on: `reply` is the 250
    MessageEnded,   // the LAST chunk: the reader is Done, the message is to be finished
  };
  Kind kind = Kind::Received;
  Reply reply;
};

class BdatChunks {
public:
  /// A BDAT command announced `command`'s chunk. `refusal`: why the session refuses it (no
  /// transaction yet); without one, a message that has failed refuses it too.
  void announce(const BdatCommand& command, std::optional<Reply> refusal);

  /// The first chunk of a message, not refused: the data hook has to agree before it is read.
  bool needsDataHook() const { return !refusal_ && !started_; }
  /// The data hook agreed: the message begins, a line begins.
  void startMessage();
  /// The data hook refused: this chunk is answered with `refusal`, and the rest are refused.
  void failMessage(Reply refusal);

  /// The announced chunk is read from now on.
  void startReading() { reading_ = true; }
  bool reading() const { return reading_; }
  /// True once all of the chunk has been taken (at once for a chunk of size 0).
  bool chunkComplete() const { return remaining_ == 0; }

  /// Takes the bytes of `input` that belong to the chunk and returns how many. Unless the chunk
  /// is refused, they go to `reader` dot-stuffed.
  std::size_t take(std::string_view input, DataReader* reader);

  /// Once chunkComplete(): ends the chunk. For the LAST one, the reader is given the final dot.
  BdatChunkEnd finishChunk(DataReader* reader);

  /// This transaction's message came by BDAT (DATA is then out of sequence).
  bool started() const { return started_; }
  /// The message is still coming: a chunk is being read, or the LAST one has not been.
  bool messageInProgress() const { return started_ && (reading_ || !last_); }

  /// The transaction ended: the next message starts afresh.
  void endTransaction();

private:
  void feed(std::string_view raw, DataReader& reader);

  bool reading_ = false;
  std::uint64_t remaining_ = 0;
  std::uint64_t chunk_size_ = 0;
  bool last_ = false;
  bool started_ = false;
  bool failed_ = false;
  // Where the raw stream is, for dot-stuffing and for the CRLF a message may lack at its end.
  enum class RawAt { LineStart, Cr, Text };
  RawAt raw_at_ = RawAt::LineStart;
  std::optional<Reply> refusal_;
};

} // namespace upesi::smtp
