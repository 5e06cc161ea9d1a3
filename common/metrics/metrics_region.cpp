#include "common/metrics/metrics_region.hpp"

#include "common/metrics/series_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace upesi::metrics {
namespace {

// Bounds that keep every size below in 64 bits and the region a few hundred MiB at most.
constexpr std::uint32_t kMaxSlots = 4096;
constexpr std::uint32_t kMaxSeries = 1U << 20;
constexpr std::uint32_t kMaxCellsPerSlot = 1U << 24;

constexpr std::uint64_t roundUp(std::uint64_t n, std::uint64_t to) {
  return (n + to - 1) / to * to;
}

std::uint32_t& sequenceOf(const RegionView& view) {
  return view.header->fold_sequence;
}

} // namespace

std::uint32_t MetricsRegion::slotsForNodes(std::uint32_t nodes) {
  return nodes == 0 ? 2 : 2 * nodes + 1;
}

MetricsRegion::MetricsRegion(int fd, void* base, std::size_t bytes)
    : fd_(fd), base_(base), bytes_(bytes) {
  auto* bytes_base = static_cast<char*>(base);
  view_.header = static_cast<RegionHeader*>(base);
  view_.entries = reinterpret_cast<SeriesEntry*>(bytes_base + view_.header->table_offset);
  view_.slots = reinterpret_cast<std::uint64_t*>(bytes_base + view_.header->slots_offset);
}

MetricsRegion::MetricsRegion(MetricsRegion&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), base_(std::exchange(other.base_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)), view_(std::exchange(other.view_, {})),
      free_slots_(std::move(other.free_slots_)) {}

MetricsRegion& MetricsRegion::operator=(MetricsRegion&& other) noexcept {
  if (this != &other) {
    unmap();
    fd_ = std::exchange(other.fd_, -1);
    base_ = std::exchange(other.base_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    view_ = std::exchange(other.view_, {});
    free_slots_ = std::move(other.free_slots_);
  }
  return *this;
}

MetricsRegion::~MetricsRegion() {
  unmap();
}

void MetricsRegion::unmap() {
  if (base_ != nullptr) {
    ::munmap(base_, bytes_);
    base_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::optional<MetricsRegion> MetricsRegion::create(const Sizing& sizing, std::string& error) {
  const std::uint32_t reserved = fallbackCellCount();
  const std::uint64_t wanted_cells = sizing.cells_per_slot != 0
                                         ? sizing.cells_per_slot
                                         : std::uint64_t{reserved} + 8ULL * sizing.series_capacity;
  if (sizing.slots < 2 || sizing.slots > kMaxSlots || sizing.series_capacity == 0 ||
      sizing.series_capacity > kMaxSeries || wanted_cells < reserved ||
      wanted_cells > kMaxCellsPerSlot) {
    error = fmt::format("metrics region sizes out of range: {} slots, {} series, {} cells",
                        sizing.slots, sizing.series_capacity, wanted_cells);
    return std::nullopt;
  }
  // Slots start on cache lines of their own: workers never write the same line.
  const auto cells = static_cast<std::uint32_t>(roundUp(wanted_cells, 8));
  const std::uint64_t table_offset = roundUp(sizeof(RegionHeader), 64);
  const std::uint64_t slots_offset =
      roundUp(table_offset + std::uint64_t{sizing.series_capacity} * sizeof(SeriesEntry), 64);
  const std::uint64_t total = slots_offset + std::uint64_t{sizing.slots} * cells * 8;

  int fd = ::memfd_create("upesi-metrics", MFD_CLOEXEC);
  if (fd < 0) {
    error = fmt::format("metrics region: memfd_create: {}", std::strerror(errno));
    return std::nullopt;
  }
  if (::ftruncate(fd, static_cast<off_t>(total)) != 0) {
    error = fmt::format("metrics region: ftruncate to {} bytes: {}", total, std::strerror(errno));
    ::close(fd);
    return std::nullopt;
  }
  void* base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    error = fmt::format("metrics region: mmap of {} bytes: {}", total, std::strerror(errno));
    ::close(fd);
    return std::nullopt;
  }
  // A fresh memfd reads as zeros: every entry empty, every cell 0.
  auto* header = static_cast<RegionHeader*>(base);
  header->magic = kRegionMagic;
  header->version = kRegionVersion;
  header->definitions_fingerprint = definitionsFingerprint();
  header->series_capacity = sizing.series_capacity;
  header->slot_count = sizing.slots;
  header->cells_per_slot = cells;
  header->reserved_cells = reserved;
  header->table_offset = table_offset;
  header->slots_offset = slots_offset;
  header->total_bytes = total;
  header->next_cell = reserved;
  MetricsRegion region(fd, base, total);
  for (std::uint32_t slot = sizing.slots - 1; slot >= 1; --slot) {
    region.free_slots_.push_back(slot);
  }
  return region;
}

std::optional<MetricsRegion> MetricsRegion::attach(int fd, std::string& error) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = fmt::format("metrics region fd {}: {}", fd, std::strerror(errno));
    return std::nullopt;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (st.st_size < static_cast<off_t>(sizeof(RegionHeader))) {
    error = fmt::format("metrics region fd {}: {} bytes, too small", fd, size);
    return std::nullopt;
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    error = fmt::format("metrics region fd {}: mmap: {}", fd, std::strerror(errno));
    return std::nullopt;
  }
  const auto* header = static_cast<const RegionHeader*>(base);
  const char* problem = nullptr;
  if (header->magic != kRegionMagic || header->version != kRegionVersion) {
    problem = "not a metrics region of this version";
  } else if (header->definitions_fingerprint != definitionsFingerprint()) {
    problem = "made by a build with other metrics";
  } else if (header->total_bytes != size || header->slot_count < 2 ||
             header->slot_count > kMaxSlots || header->series_capacity == 0 ||
             header->series_capacity > kMaxSeries || header->cells_per_slot > kMaxCellsPerSlot ||
             header->cells_per_slot < header->reserved_cells ||
             header->reserved_cells != fallbackCellCount() ||
             header->table_offset != roundUp(sizeof(RegionHeader), 64) ||
             header->slots_offset < header->table_offset + std::uint64_t{header->series_capacity} *
                                                               sizeof(SeriesEntry) ||
             header->slots_offset % 64 != 0 ||
             header->slots_offset + std::uint64_t{header->slot_count} * header->cells_per_slot * 8 >
                 size) {
    problem = "sizes that do not add up";
  }
  if (problem != nullptr) {
    error = fmt::format("metrics region fd {}: {}", fd, problem);
    ::munmap(base, size);
    return std::nullopt;
  }
  return MetricsRegion(-1, base, size);
}

std::optional<std::uint32_t> MetricsRegion::acquireSlot() {
  if (free_slots_.empty()) {
    return std::nullopt;
  }
  std::uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  return slot;
}

void MetricsRegion::releaseSlot(std::uint32_t slot) {
  assert(fd_ >= 0 && "only the region's creator gives slots out and takes them back");
  assert(slot >= 1 && slot < slotCount());
  assert(std::find(free_slots_.begin(), free_slots_.end(), slot) == free_slots_.end());
  std::atomic_ref<std::uint32_t> sequence(sequenceOf(view_));
  sequence.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  forEachSeries(view_, [&](const SeriesRef& series) {
    const MetricDefinition& metric = definition(series.metric);
    if (metric.type == MetricType::Gauge) {
      return; // a gauge is what live workers hold now: an exited one holds nothing
    }
    for (std::uint32_t i = 0; i < cellsPerSeries(metric); ++i) {
      const std::uint64_t value = loadRelaxed(*view_.cell(slot, series.cell + i));
      if (value != 0) {
        addRelaxed(*view_.cell(0, series.cell + i), value);
      }
    }
  });
  const std::uint32_t used =
      std::atomic_ref<std::uint32_t>(view_.header->next_cell).load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < used && i < view_.header->cells_per_slot; ++i) {
    storeRelaxed(*view_.cell(slot, i), 0);
  }
  sequence.fetch_add(1, std::memory_order_release);
  free_slots_.push_back(slot);
}

std::uint32_t MetricsRegion::beginRead() const {
  return std::atomic_ref<std::uint32_t>(sequenceOf(view_)).load(std::memory_order_acquire);
}

bool MetricsRegion::readAgain(std::uint32_t sequence) const {
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint32_t now =
      std::atomic_ref<std::uint32_t>(sequenceOf(view_)).load(std::memory_order_relaxed);
  return (sequence & 1U) != 0 || now != sequence;
}

} // namespace upesi::metrics
