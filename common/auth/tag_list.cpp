#include "common/auth/tag_list.hpp"

#include "common/util/ascii.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

namespace upesi::auth {
namespace {

bool isTagNameChar(char c) {
  return ascii::isLetter(c) || ascii::isDigit(c) || c == '_';
}

// VALCHAR: printable ASCII except ';'.
bool isValueChar(char c) {
  return c >= 0x21 && c <= 0x7e && c != ';';
}

std::string_view trimWhitespace(std::string_view text) {
  while (!text.empty() && text::isFoldingSpace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && text::isFoldingSpace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// Folding is CRLF followed by whitespace; a bare CR or LF, or CRLF at the end of a line that
// does not continue, is not allowed inside a tag-spec.
std::string checkFolding(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' || text[i] == '\n') {
      bool folded = text[i] == '\r' && i + 2 < text.size() && text[i + 1] == '\n' &&
                    (text[i + 2] == ' ' || text[i + 2] == '\t');
      if (!folded) {
        return "a line break that is not folding";
      }
      ++i;
    }
  }
  return {};
}

} // namespace

std::optional<std::string_view> TagList::find(std::string_view name) const {
  for (const auto& [tag, value] : tags) {
    if (tag == name) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

TagList parseTagList(std::string_view text) {
  TagList list;
  auto fail = [&list](std::string error) {
    list.tags.clear();
    list.error = std::move(error);
    return list;
  };
  if (text.size() > MaxTagListLength) {
    return fail(fmt::format("longer than {} bytes", MaxTagListLength));
  }
  if (auto error = checkFolding(text); !error.empty()) {
    return fail(error);
  }
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(';', start);
    std::string_view spec =
        text.substr(start, end == std::string_view::npos ? text.npos : end - start);
    start = end == std::string_view::npos ? text.size() + 1 : end + 1;
    spec = trimWhitespace(spec);
    if (spec.empty()) {
      // Only the list's own trailing ';' may leave an empty spec.
      if (start <= text.size() || list.tags.empty()) {
        return fail("an empty tag");
      }
      break;
    }
    std::size_t equals = spec.find('=');
    if (equals == std::string_view::npos) {
      return fail(fmt::format("\"{}\" has no '='", spec.substr(0, 40)));
    }
    std::string_view name = trimWhitespace(spec.substr(0, equals));
    std::string_view value = trimWhitespace(spec.substr(equals + 1));
    if (name.empty() || !ascii::isLetter(name.front())) {
      return fail(fmt::format("bad tag name \"{}\"", name.substr(0, 40)));
    }
    for (char c : name) {
      if (!isTagNameChar(c)) {
        return fail(fmt::format("bad tag name \"{}\"", name.substr(0, 40)));
      }
    }
    std::string kept;
    kept.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
      char c = value[i];
      if (c == '\r' && i + 1 < value.size() && value[i + 1] == '\n') {
        ++i; // folding: the whitespace after it is kept
        continue;
      }
      if (text::isFoldingSpace(c)) {
        kept += c == '\t' ? ' ' : c;
        continue;
      }
      if (!isValueChar(c)) {
        return fail(fmt::format("tag {} has a byte outside printable ASCII", name));
      }
      kept += c;
    }
    if (list.find(name)) {
      return fail(fmt::format("tag {} appears twice", name));
    }
    if (list.tags.size() == MaxTags) {
      return fail(fmt::format("more than {} tags", MaxTags));
    }
    list.tags.emplace_back(std::string(name), std::move(kept));
  }
  return list;
}

std::string withoutWhitespace(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (!text::isFoldingSpace(c)) {
      out += c;
    }
  }
  return out;
}

} // namespace upesi::auth
