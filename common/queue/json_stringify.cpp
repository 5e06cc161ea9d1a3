#include "common/queue/json_stringify.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <system_error>

namespace upesi::queue {

namespace {

constexpr std::string_view ReplacementCharacter = "\xEF\xBF\xBD"; // U+FFFD

/// Length of the well-formed UTF-8 sequence at the start of `text` (Unicode Table 3-7), or
/// the length of its maximal ill-formed subpart as a negative number (at least -1), which is
/// how much one U+FFFD replaces (the W3C/WHATWG decoding rule that Node follows).
int utf8SequenceLength(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  int length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead < 0x80) {
    return 1;
  }
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) {
      low = 0xA0;
    } else if (lead == 0xED) {
      high = 0x9F; // no UTF-16 surrogates
    }
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) {
      low = 0x90;
    } else if (lead == 0xF4) {
      high = 0x8F; // nothing above U+10FFFF
    }
  } else {
    return -1;
  }
  for (int i = 1; i < length; ++i) {
    if (static_cast<std::size_t>(i) >= text.size()) {
      return -i;
    }
    const unsigned char c = byte(static_cast<std::size_t>(i));
    const unsigned char min = i == 1 ? low : 0x80;
    const unsigned char max = i == 1 ? high : 0xBF;
    if (c < min || c > max) {
      return -i;
    }
  }
  return length;
}

template <typename Json> void appendValue(std::string& out, const Json& value, int depth);

void appendIndent(std::string& out, int depth) {
  out.append(static_cast<std::size_t>(depth), '\t');
}

template <typename Json> void appendObject(std::string& out, const Json& value, int depth) {
  if (value.empty()) {
    out += "{}";
    return;
  }
  out += "{\n";
  bool first = true;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!first) {
      out += ",\n";
    }
    first = false;
    appendIndent(out, depth + 1);
    appendJsonString(out, it.key());
    out += ": ";
    appendValue(out, it.value(), depth + 1);
  }
  out += '\n';
  appendIndent(out, depth);
  out += '}';
}

template <typename Json> void appendArray(std::string& out, const Json& value, int depth) {
  if (value.empty()) {
    out += "[]";
    return;
  }
  out += "[\n";
  bool first = true;
  for (const auto& element : value) {
    if (!first) {
      out += ",\n";
    }
    first = false;
    appendIndent(out, depth + 1);
    appendValue(out, element, depth + 1);
  }
  out += '\n';
  appendIndent(out, depth);
  out += ']';
}

template <typename Integer> void appendInteger(std::string& out, Integer value) {
  std::array<char, 24> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  (void)ec; // 24 characters hold any 64-bit integer
  out.append(buffer.data(), end);
}

template <typename Json> void appendBinary(std::string& out, const Json& value, int depth) {
  // Node's Buffer.prototype.toJSON.
  const auto& bytes = value.get_binary();
  out += "{\n";
  appendIndent(out, depth + 1);
  out += "\"type\": \"Buffer\",\n";
  appendIndent(out, depth + 1);
  out += "\"data\": ";
  if (bytes.empty()) {
    out += "[]";
  } else {
    out += "[\n";
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      if (i > 0) {
        out += ",\n";
      }
      appendIndent(out, depth + 2);
      appendInteger(out, static_cast<unsigned>(bytes[i]));
    }
    out += '\n';
    appendIndent(out, depth + 1);
    out += ']';
  }
  out += '\n';
  appendIndent(out, depth);
  out += '}';
}

template <typename Json> void appendValue(std::string& out, const Json& value, int depth) {
  switch (value.type()) {
  case nlohmann::json::value_t::object:
    appendObject(out, value, depth);
    break;
  case nlohmann::json::value_t::array:
    appendArray(out, value, depth);
    break;
  case nlohmann::json::value_t::string:
    appendJsonString(out, value.template get_ref<const std::string&>());
    break;
  case nlohmann::json::value_t::boolean:
    out += value.template get<bool>() ? "true" : "false";
    break;
  case nlohmann::json::value_t::number_integer:
    appendInteger(out, value.template get<std::int64_t>());
    break;
  case nlohmann::json::value_t::number_unsigned:
    appendInteger(out, value.template get<std::uint64_t>());
    break;
  case nlohmann::json::value_t::number_float:
    appendJsNumber(out, value.template get<double>());
    break;
  case nlohmann::json::value_t::binary:
    appendBinary(out, value, depth);
    break;
  case nlohmann::json::value_t::null:
  case nlohmann::json::value_t::discarded:
    out += "null";
    break;
  }
}

} // namespace

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr std::string_view Hex = "0123456789abcdef";
  out += '"';
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const int length = utf8SequenceLength(text.substr(i));
      if (length > 0) {
        out.append(text.substr(i, static_cast<std::size_t>(length)));
        i += static_cast<std::size_t>(length);
      } else {
        out += ReplacementCharacter;
        i += static_cast<std::size_t>(-length);
      }
      continue;
    }
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20) {
        out += "\\u00";
        out += Hex[c >> 4];
        out += Hex[c & 0x0F];
      } else {
        out += static_cast<char>(c);
      }
      break;
    }
    ++i;
  }
  out += '"';
}

void appendJsNumber(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  if (value == 0) {
    out += '0'; // also -0
    return;
  }
  if (value < 0) {
    out += '-';
    value = -value;
  }
  // The shortest round-trip digits, in scientific form: "d[.ddd]e±XX".
  std::array<char, 40> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                       std::chars_format::scientific);
  (void)ec; // 40 characters hold any double in scientific form
  const std::string_view scientific(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
  const std::size_t e_at = scientific.find('e');
  std::string digits;
  for (const char c : scientific.substr(0, e_at)) {
    if (c != '.') {
      digits += c;
    }
  }
  int exponent = 0;
  const std::string_view exponent_text = scientific.substr(e_at + 1);
  const char* exponent_begin = exponent_text.data() + (exponent_text.front() == '+' ? 1 : 0);
  std::from_chars(exponent_begin, exponent_text.data() + exponent_text.size(), exponent);

  // ECMAScript Number::toString: digits s (k of them), value = s × 10^(n−k).
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<std::size_t>(n));
    out += '.';
    out.append(digits, static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += 'e';
    out += n - 1 < 0 ? '-' : '+';
    appendInteger(out, std::abs(n - 1));
  }
}

std::string jsonStringify(const nlohmann::ordered_json& value) {
  std::string out;
  appendValue(out, value, 0);
  return out;
}

std::string jsonStringify(const nlohmann::json& value) {
  std::string out;
  appendValue(out, value, 0);
  return out;
}

} // namespace upesi::queue
