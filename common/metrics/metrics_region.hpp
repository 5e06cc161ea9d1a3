// The shared-memory region that holds every process's metric values (layout in
// region_layout.hpp). The master creates it before forking and hands its fd to the workers,
// which attach it; the master alone gives out and takes back the worker slots.
#pragma once

#include "common/metrics/region_layout.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace upesi::metrics {

class MetricsRegion {
public:
  static constexpr std::uint32_t kDefaultSeriesCapacity = 4096;

  struct Sizing {
    std::uint32_t slots = 2;
    std::uint32_t series_capacity = kDefaultSeriesCapacity;
    std::uint32_t cells_per_slot = 0; ///< 0: eight per series, room for histograms
  };

  /// Slots for `nodes` workers: slot 0 for the retired, and two generations of workers, which
  /// overlap during a reload. nodes=0 (one process serves): the retired slot and its own.
  static std::uint32_t slotsForNodes(std::uint32_t nodes);

  /// A new region in a memfd (close-on-exec), zeroed, every slot but 0 free.
  static std::optional<MetricsRegion> create(const Sizing& sizing, std::string& error);

  /// Maps a region created by another process of this build, passed down as `fd`. The fd stays
  /// the caller's. Refuses a region of another layout or another metric table.
  static std::optional<MetricsRegion> attach(int fd, std::string& error);

  MetricsRegion(MetricsRegion&& other) noexcept;
  MetricsRegion& operator=(MetricsRegion&& other) noexcept;
  MetricsRegion(const MetricsRegion&) = delete;
  MetricsRegion& operator=(const MetricsRegion&) = delete;
  ~MetricsRegion();

  /// The memfd to pass to workers; -1 in a process that attached.
  int fd() const { return fd_; }
  std::uint32_t slotCount() const { return view_.header->slot_count; }
  const RegionView& view() const { return view_; }

  /// Creator only: a free slot (1 .. slotCount()-1) for a worker about to start, or nothing
  /// when all are taken.
  std::optional<std::uint32_t> acquireSlot();

  /// Creator only, once the slot's worker has exited: adds its counters and histograms into
  /// slot 0, drops its gauges, zeroes it and frees it. Readers see the fold whole or not at
  /// all (beginRead / readAgain), so totals never seem to go down.
  void releaseSlot(std::uint32_t slot);

  /// A reader's snapshot is consistent if readAgain(beginRead()) is false after reading it.
  std::uint32_t beginRead() const;
  bool readAgain(std::uint32_t sequence) const;

private:
  MetricsRegion(int fd, void* base, std::size_t bytes);
  void unmap();

  int fd_ = -1;
  void* base_ = nullptr;
  std::size_t bytes_ = 0;
  RegionView view_;
  std::vector<std::uint32_t> free_slots_; // creator only; a stack, lowest slot on top
};

} // namespace upesi::metrics
