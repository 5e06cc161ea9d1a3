// ReplyParser: SMTP replies (RFC 5321 §4.2) out of the byte stream a server sends.
//
//   250-mx.example.org hello        continuation lines: code, "-", text
//   250-PIPELINING
//   250 SIZE 10240000               the last line: code, " " (or nothing), text
//
// Bytes go in as they arrive, split anywhere; complete replies come out. The parser is strict
// where a mistake would make us misread the conversation (a three-digit code 2xx..5xx on every
// line, the same code on every line of a reply, a separator that is "-", " " or the end of the
// line) and lenient where nothing is lost (LF alone ends a line). Everything it holds is
// bounded: a line longer than `max_line` or a reply of more than `max_lines` lines is a protocol
// error, after which the parser refuses everything (the connection cannot be trusted any more).
//
// Enhanced status codes (RFC 2034/3463, "5.1.1") are taken from the first line when their class
// matches the reply's, and removed from the front of every line that carries the same one.
// Control characters in the text (NUL, a lone CR, ...) become '?', so a reply is safe to log
// and to quote in a bounce.
//
// Pure: no I/O, no allocation beyond the replies and one partial line.
#pragma once

#include "common/util/result.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::smtp_client {

/// One reply from the server.
struct ServerReply {
  int code = 0;
  std::string enhanced;           ///< "5.1.1"; empty when the server sent none
  std::vector<std::string> lines; ///< the text of each line, code and enhanced code removed

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }

  /// The lines joined with a space: "user unknown".
  std::string text() const;
  /// For logs and failure reasons: "550 5.1.1 user unknown" (the first lines only, bounded).
  std::string describe() const;
};

struct ReplyLimits {
  std::size_t max_line = 4096; ///< bytes in one line, without its line end
  std::size_t max_lines = 1000;
};

class ReplyParser {
public:
  explicit ReplyParser(ReplyLimits limits = {}) : limits_(limits) {}

  /// Consumes `bytes`, appending every reply they complete to `out`. A protocol error is
  /// returned as a value (replies completed before it are still in `out`); from then on every
  /// call returns the same error.
  Result<std::size_t> feed(std::string_view bytes, std::vector<ServerReply>& out);

  /// True when part of a reply has been read (a reply is incomplete).
  bool midReply() const { return !partial_.empty() || !current_.lines.empty(); }

  bool failed() const { return !error_.empty(); }

private:
  bool takeLine(std::string_view line, std::vector<ServerReply>& out);

  ReplyLimits limits_;
  std::string partial_; // bytes of a line whose end has not arrived yet
  ServerReply current_; // lines of a reply whose last line has not arrived yet
  std::string error_;
};

/// True if `text` starts with an RFC 3463 enhanced status code followed by a space or the end.
/// Returns its length, or 0.
std::size_t enhancedCodeLength(std::string_view text);

} // namespace upesi::smtp_client
