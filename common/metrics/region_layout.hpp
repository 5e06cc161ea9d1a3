// The bytes of the shared metrics region, as every process maps them:
//
//   RegionHeader                      64-byte aligned, sizes and the two shared indexes
//   SeriesEntry[series_capacity]      256 bytes each: key (metric id, labels) -> first cell
//   slot 0 .. slot_count-1            cells_per_slot uint64 cells each, 64-byte aligned
//
// Slot 0 holds the totals of workers that exited; each live worker writes only its own slot.
// A series has the same cell offset in every slot. Cells 0 .. reservedCells()-1 are laid out
// from the metric table, one fallback series per metric (see series_table.hpp); the rest are
// handed out by the shared bump index next_cell.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace upesi::metrics {

inline constexpr std::uint64_t kRegionMagic = 0x5445'4d49'5345'5055ULL; // "UPESIMET"
inline constexpr std::uint32_t kRegionVersion = 1;
inline constexpr std::size_t kMaxLabelBytes = 240;

struct alignas(64) RegionHeader {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t definitions_fingerprint;
  std::uint32_t series_capacity;
  std::uint32_t slot_count;
  std::uint32_t cells_per_slot;
  std::uint32_t reserved_cells;
  std::uint64_t table_offset;
  std::uint64_t slots_offset;
  std::uint64_t total_bytes;
  // Written by every process: on lines of their own.
  alignas(64) std::uint32_t next_cell;     ///< first cell not yet given to a series
  alignas(64) std::uint32_t fold_sequence; ///< odd while the master folds a slot into slot 0
};

/// SeriesEntry::tag: 0 while empty, else the key's hash shifted left by two over the state.
enum SeriesState : std::uint64_t { kWriting = 1, kPublished = 2 };
inline constexpr std::uint64_t kStateMask = 3;
inline constexpr std::uint32_t kNoCell = 0xFFFF'FFFFU; ///< value space ran out: use the fallback

struct SeriesEntry {
  std::uint64_t tag;
  std::uint32_t cell;
  std::uint16_t metric;
  std::uint16_t label_length;
  char labels[kMaxLabelBytes];
};
static_assert(sizeof(SeriesEntry) == 256);

/// Pointers into one mapping of the region.
struct RegionView {
  RegionHeader* header = nullptr;
  SeriesEntry* entries = nullptr;
  std::uint64_t* slots = nullptr;

  std::uint64_t* cell(std::uint32_t slot, std::uint32_t cell_index) const {
    return slots + static_cast<std::size_t>(slot) * header->cells_per_slot + cell_index;
  }
};

// The region is shared memory written by several processes: every access to a field that
// another process may write goes through these.
inline std::uint64_t loadRelaxed(const std::uint64_t& value) {
  return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(value))
      .load(std::memory_order_relaxed);
}
inline void addRelaxed(std::uint64_t& value, std::uint64_t n) {
  std::atomic_ref<std::uint64_t>(value).fetch_add(n, std::memory_order_relaxed);
}
inline void storeRelaxed(std::uint64_t& value, std::uint64_t n) {
  std::atomic_ref<std::uint64_t>(value).store(n, std::memory_order_relaxed);
}

} // namespace upesi::metrics
