// What every fuzz target shares: FUZZ_CHECK, an invariant that aborts (so libFuzzer keeps the
// input as a crash) with the condition and its place, asView for the raw input, and chunkSizes
// for feeding it in pieces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(condition)                                                                      \
  do {                                                                                             \
    if (!(condition)) {                                                                            \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition);       \
      std::abort();                                                                                \
    }                                                                                              \
  } while (false)

namespace upesi::fuzz {

inline std::string_view asView(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Chunk sizes of 1..`largest` that cover `length` bytes, drawn from `seed_byte`: how a target
/// feeds its input in pieces, to check that a parser answers the same as when fed it whole.
inline std::vector<std::size_t> chunkSizes(std::uint8_t seed_byte, std::size_t length,
                                           std::uint32_t largest) {
  std::uint32_t seed = seed_byte | 1U;
  std::vector<std::size_t> chunks;
  for (std::size_t covered = 0; covered < length;) {
    seed = seed * 1103515245U + 12345U;
    chunks.push_back(1 + (seed >> 16) % largest);
    covered += chunks.back();
  }
  return chunks;
}

} // namespace upesi::fuzz
