// A streaming MIME parser (RFC 2045, 2046): fed a message's bytes as they arrive, in chunks of
// any size, it builds the tree of parts (nested multiparts split at their boundaries), decodes
// each leaf's transfer encoding, keeps the text of text parts when asked (converted to UTF-8
// where cheap, see charset.hpp) and streams attachments to callbacks without keeping them.
//
// Pure: no I/O. Every resource is bounded by MimeLimits; past a limit the parser goes on
// without splitting or keeping more, and records the limit (limitsReached()), so what a
// hostile message costs is known in advance.
#pragma once

#include "common/mail/charset.hpp"
#include "common/mail/mime_part.hpp"
#include "common/mail/transfer_decoder.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::mail {

struct MimeLimits {
  std::size_t max_depth = 16;                   ///< multiparts nested deeper are not split
  std::size_t max_header_bytes = 64 * 1024;     ///< per part; later fields are dropped
  std::size_t max_parts = 1000;                 ///< the root included; later parts are skipped
  std::size_t max_kept_bytes = 4 * 1024 * 1024; ///< decoded text kept, whole message
};

/// Longest line looked at whole: longer ones cannot be boundaries (70 characters at most, RFC
/// 2046 5.1.1, plus dashes and padding) and are passed on in pieces.
inline constexpr std::size_t MaxMimeLineBytes = 1024;
/// Decoded attachment bytes gathered before the data callback is called.
inline constexpr std::size_t AttachmentChunkBytes = 16 * 1024;

struct MimeCallbacks {
  std::function<void(const MimePart&)> attachment_start;
  std::function<void(const MimePart&, std::string_view)> attachment_data;
  std::function<void(const MimePart&)> attachment_end;
};

struct MimeOptions {
  MimeLimits limits;
  bool keep_text = false; ///< keep the decoded text of text parts (Haraka's parse_body)
};

class MimeParser {
public:
  explicit MimeParser(MimeOptions options = {}, MimeCallbacks callbacks = {});
  MimeParser(const MimeParser&) = delete;
  MimeParser& operator=(const MimeParser&) = delete;

  /// Message bytes (header and body, CRLF or LF line ends, as the DATA reader stores them).
  void feed(std::string_view bytes);
  /// End of the message: open parts end, attachments get their end callback. Feeding
  /// afterwards is ignored; calling it twice is harmless.
  void finish();

  const MimePart& root() const { return *root_; }
  const MimeLimitsReached& limitsReached() const { return reached_; }
  std::size_t partCount() const { return part_count_; }
  bool finished() const { return finished_; }

private:
  enum class State { Header, Body, Skip };

  // An open multipart: its part and the boundary its children are split at.
  struct Level {
    MimePart* part;
    std::string boundary;
  };

  void line(std::string_view content, bool has_break);
  void longLinePiece(std::string_view piece, bool first);
  void longLineEnd();
  bool boundary(std::string_view content);

  void headerBytes(std::string_view bytes, bool line_start);
  void endHeader();
  void startLeaf();
  void bodyBytes(std::string_view bytes, bool line_start);
  void deliver();
  void keepText(std::string_view text);
  void lineEnded(std::uint64_t break_length);
  /// `body_end`: where the body of the part being read ends (see MimePart::body_end).
  void endPart(std::uint64_t body_end);
  void startPart(MimePart& parent);

  MimeOptions options_;
  MimeCallbacks callbacks_;
  MimeLimitsReached reached_;
  std::unique_ptr<MimePart> root_;
  std::size_t part_count_ = 1;
  bool finished_ = false;

  // Line framing.
  std::string line_; // the current line while it may still be looked at whole
  bool in_long_line_ = false;
  std::uint64_t fed_ = 0;            // bytes fed so far
  std::uint64_t line_begin_ = 0;     // where the current line starts
  std::uint64_t previous_break_ = 0; // length of the line break that ended the previous line

  // The part being read.
  State state_ = State::Header;
  MimePart* current_ = nullptr;
  std::vector<Level> levels_;
  std::string header_block_;
  std::size_t header_field_start_ = 0; // where the field being read began
  bool header_full_ = false;
  bool pending_break_ = false; // a body line ended: its break is data unless a boundary follows
  TransferDecoder decoder_;
  Utf8Converter converter_;
  bool keep_ = false;   // keep this part's text
  std::string decoded_; // decoded bytes not yet delivered
  std::string converted_;
  std::size_t kept_bytes_ = 0;
};

} // namespace upesi::mail
