// A queue file's bytes (Haraka's format, so a Haraka queue directory can be moved over):
//
//   offset 0    uint32 big-endian L: the length of the header text
//   offset 4    header text, L bytes: "\n" + JSON.stringify(todo, null, '\t') + "\n"
//   offset 4+L  the message to the end of the file: CRLF line ends, ALREADY DOT-STUFFED,
//               without the final ".\r\n" (delivery copies these bytes and then sends ".\r\n")
//
// Reading accepts any JSON whitespace in the header (files older than Haraka 2.8 have compact
// JSON without the leading "\n"): the text is trimmed, must end in '}', and must parse as a
// Todo. A file that fails this is Corrupt (the engine renames it to error.<name>); a failing
// system call is an Io error (retry later). L is bounded by MaxHeaderBytes so a hostile length
// cannot make us allocate.
#pragma once

#include "common/queue/todo.hpp"
#include "common/util/result.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>

namespace upesi::queue {

inline constexpr std::uint32_t MaxHeaderBytes = 16U << 20; // 16 MiB
/// JSON nesting a header may have: copying and writing a todo recurse, so a deeper one (16 MiB
/// of "[" is 16 million levels) is Corrupt rather than a stack overflow. Haraka's are < 10.
inline constexpr int MaxHeaderDepth = 256;
inline constexpr std::size_t LengthPrefixBytes = 4;

/// Receives output bytes; a view is valid only during the call. An error stops the writer.
/// (The same type as smtp::ByteSink, so the message stream's writeTo plugs in directly.)
using ByteSink = std::function<Result<std::monostate>(std::string_view)>;
/// Writes a message, already dot-stuffed with CRLF line ends, into the sink in chunks.
using MessageWriter = std::function<Result<std::monostate>(const ByteSink&)>;

/// The header text: "\n" + JSON.stringify(todo.toJson(), null, '\t') + "\n".
std::string encodeHeaderText(const Todo& todo);
/// The bytes before the message: the 4-byte big-endian length, then the header text. An error
/// if the header text is longer than MaxHeaderBytes.
Result<std::string> encodeHeader(const Todo& todo);
/// A whole file in memory: encodeHeader(todo) + message (for tests and small messages).
Result<std::string> encodeQueueFile(const Todo& todo, std::string_view message);

enum class ReadFailure {
  Corrupt, ///< the bytes are not a queue file: move the file aside (error.<name>)
  Io,      ///< a system call failed: the file may be fine, try again later
};

struct ReadError {
  ReadFailure kind = ReadFailure::Corrupt;
  std::string message;
};

struct QueueFileHeader {
  Todo todo;
  std::uint64_t message_offset = 0; ///< 4 + L: where the stored message starts
  std::uint64_t file_size = 0;      ///< bytes in the file (for readHeader; 0 from decodeHeader)
};

/// A QueueFileHeader or a ReadError saying whether the file is corrupt.
class [[nodiscard]] HeaderResult {
public:
  HeaderResult(QueueFileHeader header) : state_(std::move(header)) {} // NOLINT
  HeaderResult(ReadError error) : state_(std::move(error)) {}         // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }
  QueueFileHeader& value() & { return std::get<0>(state_); }
  const QueueFileHeader& value() const& { return std::get<0>(state_); }
  QueueFileHeader&& value() && { return std::get<0>(std::move(state_)); }
  QueueFileHeader* operator->() { return &value(); }
  const QueueFileHeader* operator->() const { return &value(); }

  const ReadError& readError() const { return std::get<1>(state_); }
  const std::string& error() const { return readError().message; }
  bool corrupt() const { return !ok() && readError().kind == ReadFailure::Corrupt; }

private:
  std::variant<QueueFileHeader, ReadError> state_;
};

/// Parses header text (the L bytes after the length): trim JSON whitespace, require a final
/// '}', parse, read the Todo. Errors are Corrupt.
HeaderResult parseHeaderText(std::string_view text);
/// Reads the header from the first bytes of a file held in memory (at least 4 + L of them).
HeaderResult decodeHeader(std::string_view bytes);
/// Reads the header of an open queue file with pread (the file offset is not used or moved).
HeaderResult readHeader(int fd);
/// Opens `path` read-only and reads its header. A missing file is an Io error.
HeaderResult readHeader(const std::string& path);

} // namespace upesi::queue
