// The header block of a message (common/mail/header): parse, look-ups, edits, serialise.
//
// Input: one byte for max_lines, one for the length of a value to add, that value, then the
// header block.
//
// Invariants:
//  - serialize() has only CRLF line ends, no empty line, serializedSize() bytes, and parses back
//    to the same fields (parse ∘ serialize is the identity on what parse produced);
//  - every indexed field is found by its name, and get/getAll/count agree;
//  - a field added with a valid value is found again after serialise → parse with that value
//    unfolded and trimmed, and remove() takes it away again;
//  - no field starts with SP or HTAB, so one added first (as Received is) stays whole: the
//    fields after it read back as they were.
#include "common/mail/header.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <string>

using namespace upesi::mail;

namespace {

bool isWsp(char c) {
  return c == ' ' || c == '\t';
}

void checkSerialized(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      FUZZ_CHECK(i > 0 && text[i - 1] == '\r');
    }
  }
  FUZZ_CHECK(text.empty() || text.ends_with("\r\n"));
  FUZZ_CHECK(!text.starts_with("\r\n"));
  FUZZ_CHECK(text.find("\r\n\r\n") == std::string::npos);
}

void checkSameFields(const Header& a, const Header& b) {
  FUZZ_CHECK(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const HeaderField fa = a.field(i);
    const HeaderField fb = b.field(i);
    FUZZ_CHECK(fa.raw == fb.raw);
    FUZZ_CHECK(fa.indexed == fb.indexed);
    FUZZ_CHECK(fa.name == fb.name);
    FUZZ_CHECK(fa.raw_value == fb.raw_value);
  }
}

// The value as a reader sees it: line breaks of folds removed, SP/HTAB trimmed.
std::string unfoldTrim(std::string_view value) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n') {
      ++i;
      continue;
    }
    out += value[i];
  }
  std::size_t first = 0;
  while (first < out.size() && isWsp(out[first])) {
    ++first;
  }
  std::size_t last = out.size();
  while (last > first && isWsp(out[last - 1])) {
    --last;
  }
  return out.substr(first, last - first);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  HeaderOptions options;
  options.max_lines = data[0] == 0 ? 1000 : data[0];
  const std::size_t value_size = std::min<std::size_t>(data[1], size - 2);
  const std::string_view value = upesi::fuzz::asView(data + 2, value_size);
  const std::string_view block = upesi::fuzz::asView(data + 2 + value_size, size - 2 - value_size);

  Header header = Header::parse(block, options);
  const std::string text = header.serialize();
  checkSerialized(text);
  FUZZ_CHECK(text.size() == header.serializedSize());
  FUZZ_CHECK(text.size() <= 2 * block.size() + 2); // a bare LF becomes CRLF
  FUZZ_CHECK(header.parsedLines() >= header.size());

  const Header again = Header::parse(text, options);
  checkSameFields(header, again);
  FUZZ_CHECK(again.serialize() == text);
  // A leading continuation line is malformed, but what it is written back as need not be.
  FUZZ_CHECK(!again.malformed() || header.malformed());
  FUZZ_CHECK(again.capped() == header.capped());

  for (const HeaderField field : header) {
    FUZZ_CHECK(field.raw.find("\r\n\r\n") == std::string_view::npos);
    if (!field.indexed) {
      continue;
    }
    FUZZ_CHECK(Header::validName(field.name));
    const auto first = header.get(field.name);
    FUZZ_CHECK(first.has_value());
    const auto all = header.getAll(field.name);
    FUZZ_CHECK(!all.empty() && all.front() == *first);
    FUZZ_CHECK(all.size() == header.count(field.name));
    FUZZ_CHECK(field.value() == unfoldTrim(field.raw_value));
  }

  // Edits: append a field, write it out, read it back.
  const std::string_view name = "X-Fuzz-Added";
  const std::size_t before = header.count(name);
  const bool valid = Header::validValue(value);
  FUZZ_CHECK(header.add(name, value).ok() == valid);
  if (!valid) {
    return 0;
  }
  FUZZ_CHECK(header.count(name) == before + 1);
  const std::string edited = header.serialize();
  checkSerialized(edited);
  FUZZ_CHECK(edited.size() == header.serializedSize());
  HeaderOptions unlimited;
  unlimited.max_lines = static_cast<std::size_t>(-1);
  const Header reread = Header::parse(edited, unlimited);
  FUZZ_CHECK(reread.size() == header.size());
  const auto values = reread.getAll(name);
  FUZZ_CHECK(!values.empty() && values.back() == unfoldTrim(value));
  FUZZ_CHECK(header.remove(name) == before + 1);
  FUZZ_CHECK(header.count(name) == 0);

  // The same value as the first field (as Received is added): the fields that follow it must
  // stay what they were, even when the block started with a continuation line.
  FUZZ_CHECK(header.size() == 0 || !isWsp(header.field(0).raw.front()));
  FUZZ_CHECK(header.addLeading(name, value).ok());
  const Header leading = Header::parse(header.serialize(), unlimited);
  FUZZ_CHECK(leading.size() == header.size());
  FUZZ_CHECK(leading.get(name) == unfoldTrim(value));
  return 0;
}
