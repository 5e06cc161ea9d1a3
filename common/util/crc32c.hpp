// CRC-32C (Castagnoli, RFC 4960 appendix B), the checksum of a PROXY v2 header's CRC32C TLV.
// Incremental, so a header can be summed in pieces with its checksum field read as zeros.
#pragma once

#include <cstdint>
#include <string_view>

namespace upesi {

class Crc32c {
public:
  void update(std::string_view bytes);
  /// Adds `count` zero bytes (a checksum field that is summed as if blank).
  void updateZeros(std::size_t count);
  std::uint32_t value() const { return ~state_; }

private:
  std::uint32_t state_ = 0xffffffffU;
};

/// The CRC-32C of `bytes` in one call.
std::uint32_t crc32c(std::string_view bytes);

} // namespace upesi
