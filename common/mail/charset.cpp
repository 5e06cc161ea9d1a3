#include "common/mail/charset.hpp"

#include <upesi/text.hpp>

#include "common/mail/header.hpp"

#include <array>

namespace upesi::mail {
namespace {

constexpr unsigned Replacement = 0xfffd;

// Windows-1252 0x80..0x9f; the five holes keep their C1 code points, as WHATWG maps them.
constexpr std::array<unsigned, 32> Windows1252High = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

bool isAnyOf(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view candidate : names) {
    if (text::equalsIgnoreCase(name, candidate)) {
      return true;
    }
  }
  return false;
}

} // namespace

void appendUtf8(unsigned cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

Utf8Converter::Utf8Converter(std::string_view charset) {
  if (charset.empty() ||
      isAnyOf(charset, {"utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968"})) {
    kind_ = Kind::Utf8;
  } else if (isAnyOf(charset, {"iso-8859-1", "iso8859-1", "latin1", "iso_8859-1", "l1"})) {
    kind_ = Kind::Latin1;
  } else if (isAnyOf(charset, {"windows-1252", "cp1252"})) {
    kind_ = Kind::Windows1252;
  } else {
    kind_ = Kind::PassThrough;
  }
}

void Utf8Converter::feed(std::string_view bytes, std::string& out) {
  switch (kind_) {
  case Kind::PassThrough:
    out.append(bytes);
    return;
  case Kind::Utf8:
    utf8(bytes, out);
    return;
  case Kind::Latin1:
  case Kind::Windows1252:
    for (char c : bytes) {
      const auto byte = static_cast<unsigned char>(c);
      if (kind_ == Kind::Windows1252 && byte >= 0x80 && byte < 0xa0) {
        appendUtf8(Windows1252High[byte - 0x80], out);
      } else {
        appendUtf8(byte, out);
      }
    }
    return;
  }
}

void Utf8Converter::finish(std::string& out) {
  if (needed_ > 0) {
    appendUtf8(Replacement, out);
    needed_ = 0;
    sequence_.clear();
  }
}

void Utf8Converter::utf8(std::string_view bytes, std::string& out) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    if (needed_ > 0) {
      if (byte >= lower_ && byte <= upper_) {
        sequence_ += static_cast<char>(byte);
        lower_ = 0x80;
        upper_ = 0xbf;
        if (--needed_ == 0) {
          out += sequence_;
          sequence_.clear();
        }
        continue;
      }
      // The sequence broke off: it is replaced, and this byte starts afresh.
      appendUtf8(Replacement, out);
      sequence_.clear();
      needed_ = 0;
      lower_ = 0x80;
      upper_ = 0xbf;
    }
    if (byte < 0x80) {
      out += static_cast<char>(byte);
    } else if (byte >= 0xc2 && byte <= 0xdf) {
      needed_ = 1;
    } else if (byte >= 0xe0 && byte <= 0xef) {
      needed_ = 2;
      lower_ = byte == 0xe0 ? 0xa0 : 0x80;
      upper_ = byte == 0xed ? 0x9f : 0xbf;
    } else if (byte >= 0xf0 && byte <= 0xf4) {
      needed_ = 3;
      lower_ = byte == 0xf0 ? 0x90 : 0x80;
      upper_ = byte == 0xf4 ? 0x8f : 0xbf;
    } else {
      appendUtf8(Replacement, out);
      continue;
    }
    if (needed_ > 0) {
      sequence_ = static_cast<char>(byte);
    }
  }
}

} // namespace upesi::mail
