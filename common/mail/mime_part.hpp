// One part of a parsed MIME body, as the parser fills it in and as plugins read it
// (upesi::BodyPart).
#pragma once

#include <upesi/body.hpp>

#include "common/mail/header.hpp"

#include <cstdint>
#include <memory>

namespace upesi::mail {

/// Parser limits that a message reached (see MimeLimits).
struct MimeLimitsReached {
  bool depth = false;
  bool parts = false;
  bool header = false;
  bool kept_bytes = false;

  std::vector<std::string> names() const;
};

class MimePart final : public BodyPart {
public:
  std::string header(std::string_view name) const override {
    return fields.get(name).value_or(std::string());
  }
  std::vector<std::string> headers(std::string_view name) const override {
    return fields.getAll(name);
  }
  const std::string& contentType() const override { return content_type; }
  const std::string& charset() const override { return charset_name; }
  const std::string& filename() const override { return file_name; }
  bool isAttachment() const override { return attachment; }
  const std::string& text() const override { return body_text; }
  bool textIsUtf8() const override { return text_utf8; }
  bool textTruncated() const override { return text_truncated; }
  std::uint64_t decodedBytes() const override { return decoded_bytes; }
  std::size_t childCount() const override { return children.size(); }
  const BodyPart& child(std::size_t index) const override { return *children.at(index); }
  std::vector<std::string> limitsReached() const override {
    return limits == nullptr ? std::vector<std::string>() : limits->names();
  }

  Header fields;
  std::string content_type = "text/plain";
  std::string charset_name;
  std::string file_name;
  std::string disposition;       ///< lower-case: "attachment", "inline" or ""
  std::string transfer_encoding; ///< lower-case, as given ("" when absent)
  std::string boundary;          ///< multipart only
  bool attachment = false;
  std::string body_text;
  bool text_utf8 = true;
  bool text_truncated = false;
  bool header_truncated = false; ///< the header was longer than the limit: the rest was dropped
  std::uint64_t decoded_bytes = 0;
  unsigned depth = 0;
  /// Where a leaf's body lies in the bytes fed to the parser: from the first byte after its
  /// header to the line break before the boundary that ends it (that break is the boundary's),
  /// or to the end of the message. Both 0 for multiparts and skipped parts.
  std::uint64_t body_begin = 0;
  std::uint64_t body_end = 0;
  std::vector<std::unique_ptr<MimePart>> children;
  const MimeLimitsReached* limits = nullptr; ///< the root's view of the parser's record
};

} // namespace upesi::mail
