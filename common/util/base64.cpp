#include "common/util/base64.hpp"

#include <array>
#include <cstdint>

namespace upesi {
namespace {

constexpr char Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> decodeTable() {
  std::array<std::int8_t, 256> table{};
  for (auto& v : table) {
    v = -1;
  }
  for (int i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(Alphabet[i])] = static_cast<std::int8_t>(i);
  }
  return table;
}

constexpr auto DecodeTable = decodeTable();

} // namespace

std::string base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                      static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                      static_cast<unsigned char>(bytes[i + 2]);
    out += Alphabet[v >> 18 & 63];
    out += Alphabet[v >> 12 & 63];
    out += Alphabet[v >> 6 & 63];
    out += Alphabet[v & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) {
      v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    }
    out += Alphabet[v >> 18 & 63];
    out += Alphabet[v >> 12 & 63];
    out += rest == 2 ? Alphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int pad = 0;
    std::uint32_t v = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && last && j >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      std::int8_t d = DecodeTable[static_cast<unsigned char>(c)];
      if (d < 0 || pad > 0) {
        return std::nullopt; // a bad character, or data after padding
      }
      v = v << 6 | static_cast<std::uint32_t>(d);
    }
    // The bits padding leaves over must be zero (RFC 4648 section 3.5): "QR==" is not "QQ==".
    // Only the canonical encoding of some bytes is accepted.
    if ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0)) {
      return std::nullopt;
    }
    out += static_cast<char>(v >> 16 & 0xFF);
    if (pad < 2) {
      out += static_cast<char>(v >> 8 & 0xFF);
    }
    if (pad < 1) {
      out += static_cast<char>(v & 0xFF);
    }
  }
  return out;
}

} // namespace upesi
