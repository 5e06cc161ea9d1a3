// RESP (Redis's protocol, version 2): our value for a reply, a reader that builds it from the
// bytes a server sends, and the encoding of a command. hiredis does the parsing (its reader,
// through object-creation callbacks that build our Reply directly) and the encoding
// (redisFormatCommandArgv); none of its connection code is used.
//
// A reply from the network is bounded: one whose size (see ReplyLimits) passes max_bytes, or
// whose arrays nest deeper than max_depth, is a protocol error, and the reader stays failed: the
// connection must be dropped.
//
// Threading: a reader belongs to one thread.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::redis {

struct Reply {
  enum class Type { Status, Error, Integer, Bulk, Nil, Array };

  Type type = Type::Nil;
  std::string text;            // Status, Error and Bulk
  long long integer = 0;       // Integer
  std::vector<Reply> elements; // Array

  static Reply status(std::string text);
  static Reply error(std::string text);
  static Reply number(long long value);
  static Reply bulk(std::string text);
  static Reply nil();
  static Reply array(std::vector<Reply> elements);

  bool isError() const { return type == Type::Error; }
  bool isNil() const { return type == Type::Nil; }
  /// Status or Bulk text equal to `expected` ("OK", "PONG").
  bool is(std::string_view expected) const;
  /// Short text for logs: "OK", "(error) ERR ...", "(integer) 3", "\"bulk\"", "(nil)", "[...]".
  std::string describe() const;
};

struct ReplyLimits {
  /// A reply's size: the bytes of its strings plus sizeof(Reply) for each value in it (what it
  /// costs in memory), and the bytes of a reply not yet complete.
  std::size_t max_bytes = 64 * 1024 * 1024;
  /// Arrays inside arrays: 8 levels at most (hiredis 0.14's own bound too).
  int max_depth = 8;
};

/// Turns bytes from a server into Replies, in order.
class ReplyReader {
public:
  explicit ReplyReader(ReplyLimits limits = {});
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  /// Adds bytes; false once failed.
  bool feed(std::string_view bytes);
  /// The next complete reply, or nothing (more bytes needed, or failed()).
  std::optional<Reply> next();

  bool failed() const { return !error_.empty(); }
  /// Why the reader failed ("" while it has not).
  const std::string& error() const { return error_; }

  struct Building; // the size accounting the creation callbacks share (resp.cpp)

private:
  void fail(std::string why);

  ReplyLimits limits_;
  std::unique_ptr<Building> building_;
  void* reader_; // hiredis's redisReader
  std::string error_;
};

/// The command as it goes on the wire: an array of bulk strings.
std::string encodeCommand(const std::vector<std::string>& args);

} // namespace upesi::redis
