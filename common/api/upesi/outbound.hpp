// What the outbound hooks (send_email, get_mx, deferred, bounce, delivered) receive: the queued
// item (Haraka's hmail, whose todo notes are the original transaction's notes) and each hook's
// own facts.
#pragma once

#include <upesi/address.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace upesi {

class HMail {
public:
  virtual ~HMail() = default;
  /// "<transaction uuid>.<k>": the transaction's uuid and the file's number within it.
  virtual const std::string& uuid() const = 0;
  virtual const std::string& domain() const = 0;
  virtual const Address& mailFrom() const = 0;
  virtual const std::vector<Address>& rcptTo() const = 0;
  /// The transaction's notes, kept in the queue file (Haraka's hmail.todo.notes).
  virtual nlohmann::json& notes() = 0;
  /// Temporary failures so far.
  virtual unsigned attempts() const = 0;
  /// The queue file's name.
  virtual const std::string& fileName() const = 0;
  // Added in API version 3 (appended: the functions above keep their places).
  /// The queue file's full path (Haraka's hmail.path).
  virtual const std::string& path() const = 0;
  /// When the message entered the queue, in milliseconds since the epoch (hmail.todo.queue_time).
  virtual std::int64_t queueTime() const = 0;
  /// This item's own notes (Haraka's hmail.notes), shared by the outbound hooks of one delivery
  /// attempt and never written to the queue file; what must outlive the attempt goes in notes().
  virtual nlohmann::json& itemNotes() = 0;
};

/// The deferred hook's { delay, err, fail_recips, mx }.
struct DeferredInfo {
  std::uint64_t delay_s = 0; ///< when the next attempt is due
  std::string error;         ///< why these recipients failed for now (never another's 5xx)
  std::vector<Address> fail_recips;
  // Added in the same API version (appended: the fields above keep their place).
  std::string mx; ///< the MX host tried last; empty when there was none (DNS, get_mx)
};

/// The bounce hook's error, as Haraka's carries them: the reason, `bounced_rcpt` (refused
/// outright), `deferred_rcpt` (out of retries after temporary failures) and `mx`.
struct BounceInfo {
  std::string error;
  /// Refused outright: a 5xx from the next hop, or no MX, null MX, get_mx DENY (all of them).
  std::vector<Address> bounced_rcpt;
  // Added in the same API version (appended: the fields above keep their place).
  std::string mx; ///< the MX host tried last; empty when there was none (no MX, get_mx)
  std::vector<Address> deferred_rcpt; ///< bounced after their last temporary failure
};

/// A worker's outbound queue now, and what its deliveries did since it started (Haraka's
/// outbound.get_stats(): in progress / waiting / in temp fail state; process_title shows them).
struct OutboundStats {
  std::uint64_t in_flight = 0; ///< deliveries running now
  std::uint64_t waiting = 0;   ///< due now, waiting for a delivery slot
  std::uint64_t deferred = 0;  ///< waiting for a later attempt (temporary failure, DELAY)
  std::uint64_t queued = 0;    ///< queue files this worker knows of: the three above and held ones
  std::uint64_t delivered = 0; ///< queue files delivered (to some or all of their recipients)
  std::uint64_t deferrals = 0; ///< queue files deferred after a temporary failure
  std::uint64_t bounced = 0;   ///< queue files that bounced (some or all of their recipients)
};

struct DeliveredInfo {
  std::string host; ///< the MX host name
  std::string ip;
  std::string response; ///< the next hop's final reply
  double delay_s = 0;   ///< seconds since the message was queued
  std::uint16_t port = 25;
  std::string mode; ///< "SMTP" or "LMTP"
  std::vector<Address> ok_recips;
  bool secured = false;
  bool authenticated = false;
};

} // namespace upesi
