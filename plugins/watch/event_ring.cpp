#include "plugins/watch/event_ring.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace upesi::plugins::watch {
namespace {

constexpr std::uint64_t Magic = 0x55505349'57415443ULL; // "UPSIWATC"
constexpr std::uint32_t Version = 1;
constexpr std::size_t HeaderSize = 64;

// A slot: its sequence word (2n+1 while event n is written, 2n+2 once it is), the length,
// then the bytes.
struct SlotHead {
  std::atomic<std::uint64_t> sequence;
  std::uint32_t length;
  std::uint32_t unused;
};
constexpr std::size_t SlotPayload = EventRing::SlotSize - sizeof(SlotHead);

} // namespace

struct EventRing::Header {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t slots;
  std::atomic<std::uint64_t> head;
  std::atomic<std::int64_t> watched_until_ms;
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

Result<EventRing> EventRing::open(const std::filesystem::path& path, std::uint32_t slots) {
  const std::size_t length = HeaderSize + std::size_t{slots} * SlotSize;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Error{fmt::format("{}: {}", path.string(), std::strerror(errno))};
  }
  struct stat st {};
  bool fresh = ::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) != length;
  // A file of another size (another version, or slots changed) starts over. Two workers may
  // both see it short at first start: ftruncate to one size is idempotent, and the header
  // written twice is written the same.
  if (fresh && ::ftruncate(fd, static_cast<off_t>(length)) != 0) {
    int err = errno;
    ::close(fd);
    return Error{fmt::format("{}: {}", path.string(), std::strerror(err))};
  }
  void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  ::close(fd);
  if (base == MAP_FAILED) {
    return Error{fmt::format("{}: mmap: {}", path.string(), std::strerror(err))};
  }
  EventRing ring(base, length);
  auto* h = ring.header();
  if (h->magic != Magic || h->version != Version || h->slots != slots) {
    std::memset(base, 0, length);
    h->version = Version;
    h->slots = slots;
    std::atomic_thread_fence(std::memory_order_release);
    h->magic = Magic;
  }
  return ring;
}

EventRing::EventRing(void* base, std::size_t length) : base_(base), length_(length) {
  static_assert(sizeof(Header) <= HeaderSize);
}

EventRing::EventRing(EventRing&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), length_(std::exchange(other.length_, 0)) {}

EventRing::~EventRing() {
  if (base_ != nullptr) {
    ::munmap(base_, length_);
  }
}

EventRing::Header* EventRing::header() const {
  return static_cast<Header*>(base_);
}

unsigned char* EventRing::slot(std::uint64_t sequence) const {
  return static_cast<unsigned char*>(base_) + HeaderSize + (sequence % header()->slots) * SlotSize;
}

void EventRing::publish(std::string_view event) {
  const std::uint64_t n = header()->head.fetch_add(1, std::memory_order_acq_rel);
  auto* head = reinterpret_cast<SlotHead*>(slot(n));
  const std::size_t length = std::min(event.size(), SlotPayload);
  head->sequence.store(2 * n + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  head->length = static_cast<std::uint32_t>(length);
  std::memcpy(reinterpret_cast<unsigned char*>(head) + sizeof(SlotHead), event.data(), length);
  head->sequence.store(2 * n + 2, std::memory_order_release);
}

std::uint64_t EventRing::head() const {
  return header()->head.load(std::memory_order_acquire);
}

std::vector<std::string> EventRing::read(std::uint64_t& cursor, std::size_t max,
                                         std::uint64_t& lost) const {
  std::vector<std::string> events;
  const std::uint64_t end = head();
  const std::uint64_t slots = header()->slots;
  if (end > cursor + slots) {
    lost += end - slots - cursor; // overwritten before we came
    cursor = end - slots;
  }
  while (cursor < end && events.size() < max) {
    auto* head = reinterpret_cast<SlotHead*>(slot(cursor));
    const std::uint64_t before = head->sequence.load(std::memory_order_acquire);
    if (before < 2 * cursor + 2) {
      // Claimed and not written yet: read it next time, unless its writer died on it and the
      // ring has moved far on.
      if (end - cursor < slots / 2) {
        break;
      }
      ++lost;
      ++cursor;
      continue;
    }
    if (before != 2 * cursor + 2) {
      ++lost; // a writer a whole ring ahead has taken the slot
      ++cursor;
      continue;
    }
    const std::size_t length = std::min<std::size_t>(head->length, SlotPayload);
    std::string event(reinterpret_cast<const char*>(head) + sizeof(SlotHead), length);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (head->sequence.load(std::memory_order_relaxed) != before) {
      ++lost; // overwritten while copied
    } else {
      events.push_back(std::move(event));
    }
    ++cursor;
  }
  return events;
}

void EventRing::watchUntil(std::int64_t epoch_ms) {
  auto& until = header()->watched_until_ms;
  std::int64_t seen = until.load(std::memory_order_relaxed);
  while (seen < epoch_ms && !until.compare_exchange_weak(seen, epoch_ms)) {
  }
}

bool EventRing::watched(std::int64_t now_epoch_ms) const {
  return header()->watched_until_ms.load(std::memory_order_relaxed) > now_epoch_ms;
}

} // namespace upesi::plugins::watch
