#include "common/util/crc32c.hpp"

#include <array>

namespace upesi {

namespace {

// The reflected Castagnoli polynomial, one table entry per byte value.
constexpr std::array<std::uint32_t, 256> makeCrc32cTable() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1U) != 0 ? (crc >> 1) ^ 0x82f63b78U : crc >> 1;
    }
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> Crc32cTable = makeCrc32cTable();

std::uint32_t crc32cStep(std::uint32_t state, std::uint8_t byte) {
  return (state >> 8) ^ Crc32cTable[(state ^ byte) & 0xffU];
}

} // namespace

void Crc32c::update(std::string_view bytes) {
  for (char c : bytes) {
    state_ = crc32cStep(state_, static_cast<std::uint8_t>(c));
  }
}

void Crc32c::updateZeros(std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    state_ = crc32cStep(state_, 0);
  }
}

std::uint32_t crc32c(std::string_view bytes) {
  Crc32c sum;
  sum.update(bytes);
  return sum.value();
}

} // namespace upesi
