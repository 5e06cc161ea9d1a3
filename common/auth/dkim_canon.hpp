// DKIM canonicalization (RFC 6376 section 3.4): header fields, simple and relaxed, the data a
// signature covers (section 3.7), and a streaming body canonicalizer that feeds SHA-256.
// Line ends: a bare LF counts as CRLF everywhere (a body with mixed LF/CRLF hashes as its CRLF
// form, as Haraka#2594 asks); a bare CR is an ordinary byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::dkim {

enum class Canon { Simple, Relaxed };

std::string_view canonName(Canon canon);

/// The name of a raw header field ("Name: value" or "Name : value"): before the colon, trailing
/// whitespace removed. Empty when there is no colon.
std::string_view fieldName(std::string_view field);

/// One header field as received ("Name: value", folded with CRLF, the final CRLF optional),
/// canonicalized, the final CRLF included.
std::string canonicalizeHeader(Canon canon, std::string_view field);

/// The header data a signature covers (RFC 6376 sections 3.7 and 5.4.2): for each name in
/// `signed_names` (lower case), the last instance in `fields` (message order) not taken yet, or
/// nothing when none is left; then `signature_field`, the DKIM-Signature field with b= emptied,
/// canonicalized and without its final CRLF.
std::string signedHeaderData(Canon canon, const std::vector<std::string_view>& fields,
                             const std::vector<std::string>& signed_names,
                             std::string_view signature_field);

/// The SHA-256 of a body as canonicalized (sections 3.4.3 and 3.4.4), fed in chunks of any
/// size. Trailing empty lines are counted, never kept, so memory stays constant; an empty body
/// is "\r\n" under simple and nothing under relaxed (as dkimpy and OpenDKIM do).
class BodyHasher {
public:
  /// `limit`: hash only the first `limit` canonical bytes (l=).
  explicit BodyHasher(Canon canon, std::optional<std::uint64_t> limit = std::nullopt);
  ~BodyHasher();
  BodyHasher(BodyHasher&&) noexcept;
  BodyHasher& operator=(BodyHasher&&) noexcept;

  void update(std::string_view chunk);
  /// The 32-byte digest; call once, after the last update.
  std::string finish();

  /// Canonical bytes produced so far, the limit ignored (after finish(): the body's length).
  std::uint64_t canonicalLength() const { return produced_; }
  Canon canon() const { return canon_; }
  std::optional<std::uint64_t> limit() const { return limit_; }

private:
  static constexpr std::size_t BufferSize = 16 * 1024;

  void emit(std::string_view bytes);
  void flush();
  void emitEmptyLines();
  void content(std::string_view run); // bytes of a line, none of them CR, LF or (relaxed) WSP
  void lineEnd();

  struct Digest;
  std::unique_ptr<Digest> digest_;
  Canon canon_;
  std::optional<std::uint64_t> limit_;
  std::uint64_t produced_ = 0;
  std::uint64_t pending_empty_lines_ = 0;
  bool line_has_content_ = false;
  bool pending_space_ = false; // relaxed: whitespace seen since the line's last content byte
  bool pending_cr_ = false;
  std::string buffer_; // canonical bytes not yet given to the digest
};

/// SHA-256 of `data`, 32 bytes.
std::string sha256(std::string_view data);

} // namespace upesi::dkim
