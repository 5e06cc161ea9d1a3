// QueueIndex: the queue files a worker keeps in memory, by the time each is due, at most about
// `capacity` of them (outbound.ini scheduled_max), as Postfix's queue manager keeps a bounded
// active queue. The files beyond it stay on disk, unread: the index remembers only how many
// there were at the last read of the directory and the earliest due time among them, so that
// the engine reads the directory again when room opens and that time has come. A million
// deferred messages then cost the worker a count, not a million names.
//
// A file is known by name; a name has one due time, the earliest it was given.
//
// Threading: the loop thread.
#pragma once

#include "worker/outbound/due_order.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace upesi::outbound {

class QueueIndex {
public:
  static constexpr std::int64_t Never = std::numeric_limits<std::int64_t>::max();

  explicit QueueIndex(std::size_t capacity) : capacity_(capacity) {}

  std::size_t capacity() const { return capacity_; }
  void setCapacity(std::size_t capacity) { capacity_ = capacity; }

  /// `name` is due at `due_ms`, or stays due earlier if it already was.
  void schedule(const std::string& name, std::int64_t due_ms);
  bool contains(const std::string& name) const { return known_.count(name) != 0; }
  /// Removes and returns the file to deliver next (pickDue's choice), if one is due by `now`.
  std::optional<std::string> takeDue(std::int64_t now,
                                     const std::map<std::string, int>& priorities);
  /// Every file held is due at `now` (a flush); returns how many.
  std::size_t makeAllDue(std::int64_t now);
  /// Leaves out the latest-due files until at most `keep` are held. They stay on disk and
  /// count as left out; their names are returned.
  std::vector<std::string> trimTo(std::size_t keep);
  /// The directory was read whole: `left_out` files in it were not taken in, the earliest of
  /// them due at `left_out_due` (Never when none). Replaces what was known of them.
  void directoryRead(std::uint64_t left_out, std::int64_t left_out_due);

  std::size_t size() const { return known_.size(); }
  bool empty() const { return known_.empty(); }
  /// The earliest due time held, or Never.
  std::int64_t earliest() const { return due_.empty() ? Never : due_.begin()->first; }
  /// How many held files are due by `now`.
  std::size_t dueBy(std::int64_t now) const;
  /// Files on disk that the index does not hold (as of the last directory read and the trims
  /// since), and the earliest due time among them.
  std::uint64_t leftOut() const { return left_out_; }
  std::int64_t leftOutDue() const { return left_out_due_; }

  template <typename Visit> void forEach(Visit&& visit) const {
    for (const auto& [due, name] : due_) {
      visit(name);
    }
  }

private:
  void unschedule(const std::string& name, std::int64_t due_ms);

  std::size_t capacity_;
  std::multimap<std::int64_t, std::string> due_; // due time (epoch ms) -> file name
  std::map<std::string, std::int64_t> known_;    // file name -> due time
  std::uint64_t left_out_ = 0;
  std::int64_t left_out_due_ = Never;
};

} // namespace upesi::outbound
