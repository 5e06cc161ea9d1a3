#include "common/mail/mime_field.hpp"

#include "common/mail/charset.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

namespace upesi::mail {
namespace {

// Parameters looked at per field, and continuation segments joined: bounds the work a
// hostile header can cause.
constexpr std::size_t MaxParams = 64;
constexpr std::size_t MaxSegments = 64;

// A reader over the field text.
struct Cursor {
  std::string_view text;
  std::size_t pos = 0;

  bool done() const { return pos >= text.size(); }
  char peek() const { return text[pos]; }

  // Blanks and (nested) comments.
  void skipBlanks() {
    while (!done()) {
      if (text::isFoldingSpace(peek())) {
        ++pos;
      } else if (peek() == '(') {
        int depth = 0;
        while (!done()) {
          const char c = text[pos++];
          if (c == '\\' && !done()) {
            ++pos;
          } else if (c == '(') {
            ++depth;
          } else if (c == ')' && --depth == 0) {
            break;
          }
        }
      } else {
        return;
      }
    }
  }

  // Up to the next blank, ';' or '=' (and '(' starting a comment).
  std::string_view token() {
    const std::size_t start = pos;
    while (!done() && !text::isFoldingSpace(peek()) && peek() != ';' && peek() != '=' &&
           peek() != '(') {
      ++pos;
    }
    return text.substr(start, pos - start);
  }

  std::string quoted() {
    std::string out;
    ++pos; // the opening quote
    while (!done()) {
      const char c = text[pos++];
      if (c == '"') {
        return out;
      }
      if (c == '\\' && !done()) {
        out += text[pos++];
      } else if (c != '\r' && c != '\n') {
        out += c;
      }
    }
    return out; // unterminated: what there was
  }

  void skipPast(char c) {
    while (!done() && text[pos] != c) {
      ++pos;
    }
    if (!done()) {
      ++pos;
    }
  }
};

std::string percentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && text::hexDigitValue(s[i + 1]) >= 0 &&
        text::hexDigitValue(s[i + 2]) >= 0) {
      out += static_cast<char>(text::hexDigitValue(s[i + 1]) * 16 + text::hexDigitValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// charset'language'value: the charset and the rest.
std::pair<std::string, std::string_view> splitExtended(std::string_view value) {
  const auto first = value.find('\'');
  if (first == std::string_view::npos) {
    return {"", value};
  }
  const auto second = value.find('\'', first + 1);
  if (second == std::string_view::npos) {
    return {"", value};
  }
  return {std::string(value.substr(0, first)), value.substr(second + 1)};
}

std::string toUtf8(std::string_view charset, std::string_view bytes) {
  Utf8Converter converter(charset);
  std::string out;
  converter.feed(bytes, out);
  converter.finish(out);
  return out;
}

} // namespace

MimeField MimeField::parse(std::string_view text) {
  MimeField field;
  Cursor in{text};
  in.skipBlanks();
  // The value may have blanks around its '/': "text / plain" is seen in the wild.
  while (!in.done() && in.peek() != ';') {
    if (in.peek() == '=' || in.peek() == '"') {
      ++in.pos;
      continue;
    }
    field.value += text::toLower(in.token());
    in.skipBlanks();
  }
  while (!in.done() && field.params.size() < MaxParams) {
    ++in.pos; // ';'
    in.skipBlanks();
    const std::string name = text::toLower(in.token());
    in.skipBlanks();
    if (in.done() || in.peek() != '=') {
      in.skipPast(';');
      if (!in.done()) {
        --in.pos; // leave the ';' for the loop
      }
      continue;
    }
    ++in.pos; // '='
    in.skipBlanks();
    std::string value;
    if (!in.done() && in.peek() == '"') {
      value = in.quoted();
    } else {
      value = std::string(in.token());
    }
    if (!name.empty()) {
      field.params.emplace_back(name, std::move(value));
    }
    in.skipBlanks();
    while (!in.done() && in.peek() != ';') {
      ++in.pos; // junk after a value
    }
  }
  return field;
}

std::string MimeField::param(std::string_view name) const {
  auto find = [&](std::string_view key) -> const std::string* {
    for (const auto& [k, v] : params) {
      if (k == key) {
        return &v;
      }
    }
    return nullptr;
  };
  const std::string key(name);
  if (const auto* plain = find(key)) {
    return *plain;
  }
  if (const auto* extended = find(key + "*")) {
    auto [charset, rest] = splitExtended(*extended);
    return toUtf8(charset, percentDecode(rest));
  }
  // Continuations: name*0, name*1*, ...; the charset comes with the first encoded segment.
  std::string charset;
  std::string joined;
  bool any = false;
  for (std::size_t i = 0; i < MaxSegments; ++i) {
    const std::string segment = fmt::format("{}*{}", key, i);
    if (const auto* raw = find(segment)) {
      joined += *raw;
    } else if (const auto* encoded = find(segment + "*")) {
      std::string_view rest = *encoded;
      if (i == 0) {
        auto split = splitExtended(*encoded);
        charset = split.first;
        rest = split.second;
      }
      joined += percentDecode(rest);
    } else {
      break;
    }
    any = true;
  }
  return any ? toUtf8(charset, joined) : std::string();
}

} // namespace upesi::mail
