// Utf8Validator: checks UTF-8 that arrives in pieces (a WebSocket text message split across
// frames and reads), refusing at the first byte that cannot continue valid UTF-8, whatever the
// split. Overlongs, surrogates and values past U+10FFFF are refused (Unicode table 3-7).
#pragma once

#include <cstdint>
#include <string_view>

namespace upesi {

class Utf8Validator {
public:
  /// Takes the next bytes; false once the text so far can no longer be valid UTF-8.
  constexpr bool feed(std::string_view bytes) {
    for (std::size_t i = 0; i < bytes.size() && !failed_; ++i) {
      take(static_cast<std::uint8_t>(bytes[i]));
    }
    return !failed_;
  }

  /// The text so far is valid and ends between characters.
  constexpr bool complete() const { return !failed_ && needed_ == 0; }
  constexpr bool failed() const { return failed_; }
  constexpr void reset() { *this = Utf8Validator(); }

private:
  constexpr void take(std::uint8_t byte) {
    if (needed_ > 0) {
      if (byte < low_ || byte > high_) {
        failed_ = true;
        return;
      }
      --needed_;
      low_ = 0x80; // only the second byte of a sequence has narrower bounds
      high_ = 0xBF;
      return;
    }
    if (byte < 0x80) {
      return;
    }
    low_ = 0x80;
    high_ = 0xBF;
    if (byte >= 0xC2 && byte <= 0xDF) {
      needed_ = 1;
    } else if (byte >= 0xE0 && byte <= 0xEF) {
      needed_ = 2;
      if (byte == 0xE0) {
        low_ = 0xA0; // overlong
      } else if (byte == 0xED) {
        high_ = 0x9F; // surrogates
      }
    } else if (byte >= 0xF0 && byte <= 0xF4) {
      needed_ = 3;
      if (byte == 0xF0) {
        low_ = 0x90; // overlong
      } else if (byte == 0xF4) {
        high_ = 0x8F; // past U+10FFFF
      }
    } else {
      failed_ = true; // a stray continuation byte, C0, C1 or F5..FF
    }
  }

  std::uint8_t needed_ = 0; // continuation bytes still to come
  std::uint8_t low_ = 0x80; // bounds of the next continuation byte
  std::uint8_t high_ = 0xBF;
  bool failed_ = false;
};

} // namespace upesi
