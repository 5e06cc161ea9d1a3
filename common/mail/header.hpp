// The header block of a message (Haraka's transaction.header): an ordered list of fields,
// looked up by name case-insensitively, editable, and serialised back byte for byte where a
// field was not touched.
//
// Parsing rules (parse() never fails; oddities are kept, not dropped, so the message that is
// relayed is the message that was received):
//  - Lines end in CRLF or a bare LF; both are stored and written back as CRLF. A lone CR is
//    not a line break (as for Postfix): it stays a byte of the line. The DATA reader has
//    already refused or normalised bare line endings before a header is parsed.
//  - A line starting with SP or HTAB continues the previous field (folding).
//  - The block ends at the first empty line or at the end of the input.
//  - A line that has no colon, or whose name has characters outside printable ASCII, is kept as
//    a raw field that is written back unchanged but never found by name; malformed() is then
//    true so a caller may refuse the message. Parsing goes on after such a line.
//  - A continuation line with nothing to continue (the first line starting with SP or HTAB)
//    would fold into a field added before it (Received): its leading SP/HTAB is dropped and the
//    rest is parsed as a line of its own; if nothing is left, the line is dropped. malformed()
//    is then true too.
//  - Only fields that start within the first max_lines physical lines are indexed (found by
//    name); later ones are kept raw, as Haraka does with headers.max_lines.
#pragma once

#include "common/util/result.hpp"

#include <cstddef>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace upesi::mail {

struct HeaderOptions {
  std::size_t max_lines = 1000; // physical lines indexed by name (Haraka headers.max_lines)
};

/// One field as stored: `raw` is the whole field without its final CRLF (continuation lines
/// joined by CRLF); `name` (without trailing WSP) and `raw_value` (everything after the colon,
/// still folded) are empty for a raw, unindexed field.
struct HeaderField {
  std::string_view raw;
  std::string_view name;
  std::string_view raw_value;
  bool indexed = false;

  /// The value after the colon, unfolded (each CRLF removed: in a field it always precedes
  /// WSP) and trimmed of SP/HTAB.
  std::string value() const;
};

class Header {
public:
  Header() = default;

  /// Parse a header block (see the file comment for the rules). Input after the first empty line
  /// is ignored.
  static Header parse(std::string_view block, const HeaderOptions& options = {});

  /// First value of `name`, unfolded; nullopt when absent.
  std::optional<std::string> get(std::string_view name) const;
  /// Every value of `name` in order, unfolded.
  std::vector<std::string> getAll(std::string_view name) const;
  std::size_t count(std::string_view name) const;

  /// Append "name: value". The name must be printable ASCII without ':'; the value may be
  /// folded (CRLF, then SP/HTAB, then a visible byte) but holds no other CR or LF, no NUL, and
  /// no trailing CRLF.
  Result<std::monostate> add(std::string_view name, std::string_view value);
  /// As add() but as the first field (e.g. Received, Authentication-Results).
  Result<std::monostate> addLeading(std::string_view name, std::string_view value);
  /// As add() but at `index` among the fields (raw ones count); past the end: last.
  Result<std::monostate> insert(std::size_t index, std::string_view name, std::string_view value);
  /// The `occurrence`th (from 1) indexed field called `name` becomes "name: value"; an empty
  /// value removes it. With fewer such fields, a non-empty value is appended.
  Result<std::monostate> change(std::string_view name, std::size_t occurrence,
                                std::string_view value);
  /// Remove every indexed field called `name`; returns how many went.
  std::size_t remove(std::string_view name);
  /// Remove the indexed fields called `name` for which `predicate` is true; returns how many
  /// went.
  std::size_t removeIf(std::string_view name,
                       const std::function<bool(const HeaderField&)>& predicate);

  /// The CRLF-terminated header block, without the empty line that separates it from the body.
  std::string serialize() const;
  void serializeTo(std::string& out) const;
  std::size_t serializedSize() const;

  /// Number of fields (raw ones included).
  std::size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  HeaderField field(std::size_t index) const;
  /// A line without a colon, a bad name or an orphan continuation was seen.
  bool malformed() const { return malformed_; }
  /// Some fields were past max_lines and are not indexed.
  bool capped() const { return capped_; }
  /// Physical lines kept by parse() (a leading line of SP/HTAB alone is not).
  std::size_t parsedLines() const { return parsed_lines_; }

  class Iterator {
  public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = HeaderField;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = HeaderField;

    Iterator() = default;
    Iterator(const Header* header, std::size_t index) : header_(header), index_(index) {}
    HeaderField operator*() const { return header_->field(index_); }
    Iterator& operator++() {
      ++index_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++index_;
      return old;
    }
    bool operator==(const Iterator& other) const { return index_ == other.index_; }

  private:
    const Header* header_ = nullptr;
    std::size_t index_ = 0;
  };
  Iterator begin() const { return {this, 0}; }
  Iterator end() const { return {this, fields_.size()}; }

  /// Printable ASCII (33..126) except ':' and at least one character.
  static bool validName(std::string_view name);
  /// See add().
  static bool validValue(std::string_view value);

private:
  // A field lives either in original_ (offset/length, so copies and moves stay valid) or, when
  // added later, in its own string.
  struct Field {
    std::size_t offset = 0;
    std::size_t length = 0;
    std::size_t name_length = 0; // 0 = not indexed
    std::size_t colon = 0;       // index of ':' in the field when indexed
    std::string owned;
    bool is_owned = false;
  };

  std::string_view rawOf(const Field& field) const;
  Result<Field> makeField(std::string_view name, std::string_view value) const;

  std::string original_; // the parsed block, line endings normalised to CRLF
  std::vector<Field> fields_;
  std::size_t parsed_lines_ = 0;
  bool malformed_ = false;
  bool capped_ = false;
  bool edited_ = false; // once false, serialize() is original_ as it is
};

} // namespace upesi::mail
