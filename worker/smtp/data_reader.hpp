// Incremental reader of the DATA phase. It is fed the bytes read from the socket in chunks that
// may split anywhere, removes dot-stuffing, and hands the message (lines ending in CRLF) to a
// sink in runs as long as possible: usually one call per chunk, never a copy per line.
//
// Rules:
//  - Only CRLF "." CRLF ends DATA. The 354 reply follows the client's CRLF, so a first line of
//    "." ends it too. Bytes after the final dot are not consumed: feed() says how many were, and
//    the caller answers the pipelined commands that follow.
//  - A bare LF or a bare CR (not part of CRLF) is how SMTP smuggling works, so by default it
//    stops the reader with BareLineEnding (the caller answers 451/550 and closes). With
//    BareLineEndingPolicy::Normalise it becomes CRLF instead, and a line ended that way can never
//    start or end a terminator: ".\n", "\n.\r\n" and "\r.\r" are data, not the end.
//  - A line starting with "." loses that dot (RFC 5321 §4.5.2), whatever follows it.
//  - max_line_length counts a line as stored (after unstuffing) including its CRLF; Haraka's 992
//    by default. Fold (Haraka's behaviour) inserts CRLF SP after max_line_length - 2 bytes and
//    sets lineLengthExceeded() (transaction.notes.data_line_length_exceeded); Reject stops
//    emitting and reports LineTooLong once the end is reached.
//  - A NUL byte is no text (RFC 5322 2.3); with reject_nul, past the first one nothing more is
//    emitted, and NulCharacter is reported once the end is reached.
//  - max_bytes bounds the message as stored. Past it nothing more is emitted, but the reader
//    keeps reading (and counting) to the end and reports SizeExceeded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace upesi::smtp {

enum class BareLineEndingPolicy { Reject, Normalise };
enum class LongLinePolicy { Fold, Reject };

struct DataReaderOptions {
  /// Longest line as stored, CRLF included; 0 = no limit. Values below 4 are raised to 4.
  std::size_t max_line_length = 992;
  LongLinePolicy long_lines = LongLinePolicy::Fold;
  BareLineEndingPolicy bare_line_endings = BareLineEndingPolicy::Reject;
  /// Largest message as stored (Haraka max.bytes / SIZE); 0 = no limit.
  std::uint64_t max_bytes = 26214400;
  /// Off here; the session turns it on unless smtp.ini allow_nul_in_data is set.
  bool reject_nul = false;
};

enum class DataState {
  Reading,        // wants more input
  Done,           // the final dot was seen; see outcome()
  BareLineEnding, // a bare CR or LF under the Reject policy; nothing more will be read
};

enum class DataOutcome {
  Accepted,
  SizeExceeded,
  NulCharacter,
  LineTooLong,
  BareLineEnding,
};

struct DataFeedResult {
  std::size_t consumed = 0; // bytes of the chunk that belong to DATA
  DataState state = DataState::Reading;
};

class DataReader {
public:
  /// Receives message bytes; a view is valid only during the call.
  using Sink = std::function<void(std::string_view)>;

  DataReader(const DataReaderOptions& options, Sink sink);

  /// Read one chunk. When the state is no longer Reading, `consumed` may be less than the chunk
  /// size: the rest follows the final dot (or the offending byte) and is not DATA. After that,
  /// further calls consume nothing.
  DataFeedResult feed(std::string_view chunk);

  DataState state() const { return state_; }
  /// Meaningful once state() is not Reading. SizeExceeded wins over NulCharacter, which wins
  /// over LineTooLong.
  DataOutcome outcome() const;

  /// Bytes of the message as stored (unstuffed, CRLF), counting on past max_bytes. Not
  /// meaningful after BareLineEnding.
  std::uint64_t messageBytes() const { return bytes_; }
  /// Bytes read from the wire so far, the final "." CRLF included.
  std::uint64_t wireBytes() const { return wire_bytes_; }
  /// Complete lines of the message as stored (a fold makes two).
  std::uint64_t lines() const { return lines_; }
  bool sizeExceeded() const { return size_exceeded_; }
  bool lineTooLong() const { return line_too_long_; }
  /// A NUL byte was seen (reject_nul only).
  bool nulSeen() const { return nul_seen_; }
  /// A line was folded (Fold policy only).
  bool lineLengthExceeded() const { return line_length_exceeded_; }
  /// A bare CR or LF was turned into CRLF (Normalise policy only).
  bool normalisedLineEndings() const { return normalised_; }
  /// The first line looks like a header field ("name:" with a valid name).
  bool firstLineIsHeader() const { return first_line_ == FirstLine::Header; }
  /// Offset in the stored message of the first byte after the first empty line (the body).
  std::optional<std::uint64_t> bodyOffset() const { return body_offset_; }

private:
  enum class At {
    LineStart, // nothing of the current line seen yet
    Text,      // inside a line
    Cr,        // a CR ended the text; is it CRLF?
    Dot,       // the line started with "."
    DotCr,     // "." CR: the terminator if LF follows and the previous line ended in CRLF
  };
  enum class FirstLine { Unknown, Header, Other };

  void emit(const char* data, std::size_t size);
  void text(const char* begin, const char* end, const char*& run);
  void endLine(bool crlf, std::uint64_t offset_after);
  void checkFirstLine(const char* begin, const char* end);

  Sink sink_;
  std::size_t content_limit_; // max_line_length - 2, or 0 for none
  LongLinePolicy long_lines_;
  BareLineEndingPolicy bare_line_endings_;
  std::uint64_t max_bytes_;
  bool reject_nul_;

  DataState state_ = DataState::Reading;
  At at_ = At::LineStart;
  bool prev_crlf_ = true; // the line before ended in a real CRLF (the 354 counts as one)
  std::size_t line_length_ = 0;
  std::size_t first_line_name_ = 0; // name characters seen on the first line
  FirstLine first_line_ = FirstLine::Unknown;
  std::uint64_t bytes_ = 0;
  std::uint64_t wire_bytes_ = 0;
  std::uint64_t lines_ = 0;
  std::optional<std::uint64_t> body_offset_;
  bool size_exceeded_ = false;
  bool line_too_long_ = false;
  bool nul_seen_ = false;
  bool line_length_exceeded_ = false;
  bool normalised_ = false;
};

} // namespace upesi::smtp
