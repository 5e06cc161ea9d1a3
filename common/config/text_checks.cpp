#include "common/config/text_checks.hpp"

namespace upesi::config {

bool isValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra = 0;
    unsigned int cp = 0;
    if ((c & 0xE0U) == 0xC0U) {
      extra = 1;
      cp = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0U) {
      extra = 2;
      cp = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0U) {
      extra = 3;
      cp = c & 0x07U;
    } else {
      return false;
    }
    if (end - p <= extra) {
      return false;
    }
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0U) != 0x80U) {
        return false;
      }
      cp = (cp << 6U) | (p[i] & 0x3FU);
    }
    static constexpr unsigned int MinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < MinForLength[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += extra + 1;
  }
  return true;
}

std::optional<std::string> checkTextLine(std::string_view line) {
  if (line.find('\0') != std::string_view::npos) {
    return "NUL byte in a text file";
  }
  if (!isValidUtf8(line)) {
    return "invalid UTF-8";
  }
  return std::nullopt;
}

std::size_t utf8SequenceLength(std::string_view rest) {
  auto c = static_cast<unsigned char>(rest[0]);
  std::size_t len = 0;
  if ((c & 0xE0U) == 0xC0U) {
    len = 2;
  } else if ((c & 0xF0U) == 0xE0U) {
    len = 3;
  } else if ((c & 0xF8U) == 0xF0U) {
    len = 4;
  } else {
    return 0;
  }
  if (rest.size() < len || !isValidUtf8(rest.substr(0, len))) {
    return 0;
  }
  return len;
}

} // namespace upesi::config
