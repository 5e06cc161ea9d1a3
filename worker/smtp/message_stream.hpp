// The stored message of a transaction (Haraka's message_stream): append-only bytes as the DATA
// reader produces them (unstuffed, CRLF), kept in memory up to spool_after bytes and then moved
// to a private temporary file. It finds the header/body split itself, parses the header block
// when the data ends, and writes the message out with the current Header (so header edits
// show) followed by the stored bytes after the original header.
//
// Plain POSIX I/O, blocking: the server calls the heavy parts from a thread pool.
#pragma once

#include "common/mail/header.hpp"
#include "common/util/result.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace upesi::smtp {

struct MessageStreamOptions {
  /// Bytes kept in memory before spilling to a file: -1 never spill, 0 always (Haraka's
  /// spool_after).
  std::int64_t spool_after = -1;
  /// Directory for the spill file (Haraka's spool_dir).
  std::string spool_dir = "/tmp";
  /// The header block is at most this long: when no empty line is found within it, the header
  /// ends at the last line boundary before it and the rest counts as body (still written out
  /// unchanged). This bounds the memory the parsed header can take.
  std::size_t max_header_bytes = 1 << 20;
  mail::HeaderOptions header;
  /// The bytes are a body alone (a replacement body): no header is looked for.
  bool body_only = false;
};

enum class LineEnding { Crlf, Lf };

/// Stored bytes [begin, end) (offsets as append() counted them, within the body) written as
/// what `replace` makes of them: how a banner is added to a body part.
struct BodyEdit {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::function<std::string(std::string_view)> replace;
};

struct WriteOptions {
  bool dot_stuff = false; // prefix "." to lines starting with "." (SMTP, queue files)
  LineEnding line_ending = LineEnding::Crlf;
  bool skip_headers = false;   // body only (what follows the empty line)
  bool ending_dot = false;     // finish with "." and a line ending (an SMTP client's DATA)
  std::vector<BodyEdit> edits; // in order, not overlapping; each range is read into memory
};

/// Receives output bytes; a view is valid only during the call. An error stops writeTo().
using ByteSink = std::function<Result<std::monostate>(std::string_view)>;

class MessageStream {
public:
  explicit MessageStream(MessageStreamOptions options = {});
  ~MessageStream() = default;
  MessageStream(MessageStream&& other) noexcept = default;
  MessageStream& operator=(MessageStream&& other) noexcept = default;
  MessageStream(const MessageStream&) = delete;
  MessageStream& operator=(const MessageStream&) = delete;

  /// Add message bytes. Spills to the spool file when the threshold is crossed. After an I/O
  /// error the stream stays failed and every later call returns the error.
  Result<std::monostate> append(std::string_view bytes);
  /// End of data: flush the file buffer and parse the header block. Appending afterwards is an
  /// error. Calling it twice is harmless.
  Result<std::monostate> finish();
  /// Write the message to `sink` in chunks (a spilled message is never loaded whole). Only after
  /// finish().
  Result<std::monostate> writeTo(const ByteSink& sink, const WriteOptions& options = {}) const;

  /// From now on writeTo() writes `body` (a finished body_only stream) after the header and its
  /// empty line, in place of the stored body; edits in WriteOptions are then not applied.
  void replaceBody(MessageStream body);
  bool bodyReplaced() const { return replacement_ != nullptr; }

  mail::Header& header() { return header_; }
  const mail::Header& header() const { return header_; }

  /// Bytes appended.
  std::uint64_t size() const { return size_; }
  /// Length of the original header block (its lines, not the empty line). Known after finish(),
  /// or as soon as the empty line arrives.
  std::uint64_t headerLength() const { return header_end_; }
  /// Offset of the first body byte, when an empty line ended the header.
  std::optional<std::uint64_t> bodyOffset() const;
  bool finished() const { return finished_; }
  bool spilled() const { return spool_.fd >= 0; }
  /// Path of the spill file ("" while in memory).
  const std::string& spoolPath() const { return spool_.path; }

private:
  // The spill file: closed and unlinked when the stream goes.
  struct SpoolFile {
    int fd = -1;
    std::string path;

    SpoolFile() = default;
    ~SpoolFile();
    SpoolFile(SpoolFile&& other) noexcept;
    SpoolFile& operator=(SpoolFile&& other) noexcept;
    SpoolFile(const SpoolFile&) = delete;
    SpoolFile& operator=(const SpoolFile&) = delete;
    void close() noexcept;
  };

  Result<std::monostate> spill();
  Result<std::monostate> flushFileBuffer();
  Result<std::monostate> fail(std::string message);
  void scanHeader(std::string_view bytes);
  // Stored bytes [begin, end) to `consume`, from memory or the spill file.
  Result<std::monostate>
  writeRange(std::uint64_t begin, std::uint64_t end,
             const std::function<Result<std::monostate>(std::string_view)>& consume) const;
  // Read [offset, offset + size) in chunks of at most `buffer` bytes.
  Result<std::monostate>
  readRange(std::uint64_t offset, std::uint64_t size, std::string& buffer,
            const std::function<Result<std::monostate>(std::string_view)>& consume) const;

  MessageStreamOptions options_;
  std::string memory_;      // the message while not spilled
  std::string file_buffer_; // pending writes once spilled
  SpoolFile spool_;
  std::uint64_t size_ = 0;
  std::string error_; // set once an I/O error happened

  // Header scan state.
  bool header_done_ = false;
  bool at_line_start_ = true;
  bool line_has_cr_ = false; // the current line so far is just "\r"
  std::uint64_t line_start_ = 0;
  std::uint64_t header_end_ = 0;
  std::optional<std::uint64_t> body_offset_;

  mail::Header header_;
  bool finished_ = false;
  std::unique_ptr<MessageStream> replacement_; // replaceBody()
};

} // namespace upesi::smtp
