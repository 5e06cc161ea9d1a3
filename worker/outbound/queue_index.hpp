// QueueIndex: the queue files a worker keeps in memory, by the time each is due, at most about
// `capacity` of them (outbound.ini scheduled_max), as Postfix's queue manager keeps a bounded
// active queue. The files beyond it stay on disk, unread: the index remembers only how many
// there were at the last read of the directory and the earliest due time among them, so that
// the engine reads the directory again when room opens and that time has come. A million
// deferred messages then cost the worker a count, not a million names.
//
// Which due file goes next is chosen across destinations, as Postfix's queue manager takes
// its active queue round-robin by destination rather than in arrival order: the highest
// MT-PRIORITY (RFC 6710) first, then the destination with the fewest deliveries in flight from
// here, then the one served least recently. A destination whose delivery just ended therefore
// sends its next message on the connection that delivery left idle, and a queue loaded domain
// after domain still spreads over every domain at once. A file's destination is known when
// this worker queued or tried it; files read from the directory share the destination "" until
// their first try.
//
// A file is known by name; a name has one due time, the earliest it was given.
//
// Threading: the loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace upesi::outbound {

class QueueIndex {
public:
  static constexpr std::int64_t Never = std::numeric_limits<std::int64_t>::max();

  explicit QueueIndex(std::size_t capacity) : capacity_(capacity) {}
  QueueIndex(const QueueIndex&) = delete;
  QueueIndex& operator=(const QueueIndex&) = delete;

  std::size_t capacity() const { return capacity_; }
  void setCapacity(std::size_t capacity) { capacity_ = capacity; }

  /// `name`, to `destination` ("" when not known), is due at `due_ms`, or stays due earlier if
  /// it already was.
  void schedule(const std::string& name, std::int64_t due_ms, const std::string& destination = {});
  bool contains(const std::string& name) const { return known_.count(name) != 0; }
  /// Removes and returns the file to deliver next, if one is due by `now`; it counts as in
  /// flight to its destination until finished(). `priorities` holds the MT-PRIORITY of files
  /// that have one other than 0.
  std::optional<std::string> takeDue(std::int64_t now,
                                     const std::map<std::string, int>& priorities);
  /// The delivery of `name`, taken by takeDue, ended.
  void finished(const std::string& name);
  /// Every file held is due at `now` (a flush); returns how many.
  std::size_t makeAllDue(std::int64_t now);
  /// Leaves out files until at most `keep` are held: the latest-due of those not due yet, then
  /// due ones of the destinations served most. They stay on disk and count as left out; their
  /// names are returned.
  std::vector<std::string> trimTo(std::size_t keep);
  /// The directory was read whole: `left_out` files in it were not taken in, the earliest of
  /// them due at `left_out_due` (Never when none). Replaces what was known of them.
  void directoryRead(std::uint64_t left_out, std::int64_t left_out_due);

  std::size_t size() const { return known_.size(); }
  bool empty() const { return known_.empty(); }
  /// The earliest due time held, or Never. For files already found due it may be earlier
  /// than their own: the time they were found due.
  std::int64_t earliest() const;
  /// How many held files are due by `now`.
  std::size_t dueBy(std::int64_t now) const;
  /// Files on disk that the index does not hold (as of the last directory read and the trims
  /// since), and the earliest due time among them.
  std::uint64_t leftOut() const { return left_out_; }
  std::int64_t leftOutDue() const { return left_out_due_; }
  /// Deliveries taken and not finished, to `destination`.
  std::size_t inFlight(const std::string& destination) const;

  template <typename Visit> void forEach(Visit&& visit) const {
    for (const auto& [name, entry] : known_) {
      visit(name);
    }
  }

private:
  // Ready files of a destination, best first: highest priority, then earliest due.
  using ReadyKey = std::pair<int, std::int64_t>; // (-priority, due)
  using ReadyFiles = std::multimap<ReadyKey, std::string>;
  // Destinations with ready files, the next to serve first.
  using TurnKey = std::tuple<int, std::size_t, std::uint64_t, std::string>;

  struct Destination {
    ReadyFiles ready;
    std::size_t held = 0;      // pending and ready files
    std::size_t in_flight = 0; // taken, not finished
    std::uint64_t served = 0;  // the take count when it was last served
    std::optional<TurnKey> turn;
  };
  using Destinations = std::map<std::string, Destination>;

  struct Entry {
    std::int64_t due;
    Destinations::iterator destination;
    bool ready = false;
  };

  void promote(std::int64_t now, const std::map<std::string, int>& priorities);
  /// Removes a due file from its destination's list; returns its name.
  std::string removeReady(ReadyFiles& ready, ReadyFiles::iterator file);
  void reorder(Destinations::iterator destination);
  void dropIfIdle(Destinations::iterator destination);

  std::size_t capacity_;
  std::map<std::string, Entry> known_;               // every file held
  std::multimap<std::int64_t, std::string> pending_; // held files not yet found due, by due
  Destinations destinations_;
  std::set<TurnKey> turns_;                             // destinations with ready files
  std::map<std::string, Destinations::iterator> taken_; // in flight: name -> destination
  std::size_t ready_ = 0;                               // files found due
  std::int64_t ready_since_ = Never; // earliest due among ready files (a lower bound)
  std::uint64_t takes_ = 0;
  std::uint64_t left_out_ = 0;
  std::int64_t left_out_due_ = Never;
};

} // namespace upesi::outbound
