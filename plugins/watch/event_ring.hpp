// EventRing: the watch plugin's events, shared by every worker through a file they all map, so
// that a browser connected to one worker sees the connections of all of them (Haraka's watch
// needs Redis pub/sub for that).
//
// A fixed ring of fixed-size slots: a writer claims the next sequence number with one atomic
// add and fills its slot under a per-slot sequence word (odd while written, even when done); a
// reader that falls a whole ring behind skips to what is still there. Nothing grows: the file
// is slots * slot_size bytes, whatever the traffic. Writers write only while some worker has a
// browser attached (watchedUntil), so an unwatched server pays one load per event.
//
// Threading: any process, any thread; a reader object belongs to one thread.
#pragma once

#include "common/util/result.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::plugins::watch {

class EventRing {
public:
  static constexpr std::uint32_t DefaultSlots = 4096;
  static constexpr std::uint32_t SlotSize = 1024; // an event longer than SlotSize - 16 is cut

  /// Maps `path`, creating it (sized for `slots`) if it is missing or of another layout.
  static Result<EventRing> open(const std::filesystem::path& path,
                                std::uint32_t slots = DefaultSlots);
  EventRing(EventRing&& other) noexcept;
  EventRing& operator=(EventRing&&) = delete;
  EventRing(const EventRing&) = delete;
  ~EventRing();

  /// Adds one event (cut at the slot's size).
  void publish(std::string_view event);
  /// The sequence number the next event will get: a new reader starts here.
  std::uint64_t head() const;
  /// Events from `cursor` on (at most `max`), advancing it; events overwritten before they
  /// were read are skipped and counted in `lost`.
  std::vector<std::string> read(std::uint64_t& cursor, std::size_t max, std::uint64_t& lost) const;

  /// A worker with browsers attached keeps this in the future; writers look at it.
  void watchUntil(std::int64_t epoch_ms);
  bool watched(std::int64_t now_epoch_ms) const;

private:
  struct Header;
  EventRing(void* base, std::size_t length);
  Header* header() const;
  unsigned char* slot(std::uint64_t sequence) const;

  void* base_ = nullptr;
  std::size_t length_ = 0;
};

} // namespace upesi::plugins::watch
