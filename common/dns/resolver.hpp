// Resolver: c-ares driven by the loop (uv_poll per socket, one uv_timer for c-ares timeouts), so
// no lookup ever blocks a worker. Servers come from /etc/resolv.conf unless config/dns.ini
// [main] servers=host:port,... says otherwise (tests point it at a loopback server).
//
// Threading: the loop thread. Destroying the resolver cancels every query: their callbacks run
// with DnsStatus::Error ("cancelled") before the destructor returns.
#pragma once

#include <upesi/dns.hpp>

#include "common/dns/answer_cache.hpp"
#include "common/metrics/cached_handle.hpp"
#include "common/util/result.hpp"
#include "common/util/uv_handle.hpp"

#include <uv.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace upesi::dns {

struct ResolverOptions {
  std::string servers;   // "1.2.3.4:53,[::1]:5353"; empty: /etc/resolv.conf
  int timeout_ms = 5000; // per try
  int tries = 2;
  AnswerCacheLimits cache; // answers kept for their TTL (dns.ini cache_*)
  // The servers validate DNSSEC (a local unbound): their AD bit may be trusted (dns.ini
  // validating). Only then does DANE apply.
  bool validating = false;
};

/// Turns a raw answer (the message c-ares hands a query's callback) into the records a plugin
/// gets: c-ares parses the message, this keeps addresses, names, MX preferences, TTLs and TXT
/// strings. A malformed answer is an error, never a crash. Public for the fuzzer
/// (test/fuzz/dns_answer.cpp).
DnsResult parseAnswer(DnsType type, const unsigned char* abuf, int alen);

/// The record type number (RFC 1035 TYPE, ns_t_*) that `type` asks for.
int recordType(DnsType type);

class Resolver {
public:
  static Result<std::unique_ptr<Resolver>> create(uv_loop_t* loop, const ResolverOptions& options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  /// Answers from the cache (on a later loop turn, never inside this call) or from the
  /// servers; concurrent questions for the same name and type share one query.
  void query(const std::string& name, DnsType type, DnsCallback callback);

  /// The name of an address: /etc/hosts first, then PTR records.
  void reverse(const std::string& ip, DnsCallback callback);

  /// An answer as the server sent it, for what needs more than records: the AD bit (DANE).
  struct RawAnswer {
    DnsStatus status = DnsStatus::Error; ///< Ok whenever a message came (its RCODE is in it)
    std::string error;                   ///< why not, when no message came
    std::string message;                 ///< the whole message
  };
  using RawCallback = std::function<void(RawAnswer)>;
  /// Asks for records of `type` (an RFC 1035 TYPE number) of `name` with AD and DO set
  /// (common/dns/tlsa.hpp), so that a validating resolver says what it validated. Not cached;
  /// the callback runs on a later loop turn, never inside this call.
  void queryAuthenticated(const std::string& name, unsigned type, RawCallback callback);
  /// Whether dns.ini says the servers validate DNSSEC, so that their AD bit means something.
  bool validating() const { return validating_; }

private:
  Resolver(uv_loop_t* loop, const AnswerCacheLimits& cache);
  /// Sends the question to the servers; `shared_key` non-empty: the answer goes to every
  /// waiter in inflight_ under that key, and into the cache.
  void ask(const std::string& name, DnsType type, DnsCallback callback, std::string shared_key);
  void answerWaiters(const std::string& key, const std::string& name, DnsType type,
                     const DnsResult& result, std::optional<std::uint32_t> ttl);
  void deliverLater(DnsCallback callback, DnsResult result);
  static void onReady(uv_timer_t* timer);
  static void onSocketState(void* data, int fd, int readable, int writable);
  static void onPoll(uv_poll_t* handle, int status, int events);
  static void onTimer(uv_timer_t* timer);
  void rearmTimer();
  /// dns_query_duration_seconds{type}, kept here for each type.
  const metrics::Histogram& durationOf(DnsType type);

  uv_loop_t* loop_;
  bool validating_ = false;
  void* channel_ = nullptr; // ares_channel
  UvHandle<uv_timer_t> timer_;
  std::map<int, UvHandle<uv_poll_t>> polls_;                           // c-ares's sockets, by fd
  std::array<metrics::CachedHandle<metrics::Histogram>, 7> durations_; // by DnsType
  AnswerCache cache_;
  std::unordered_map<std::string, std::vector<DnsCallback>> inflight_; // by AnswerCache key
  std::vector<std::pair<DnsCallback, DnsResult>> ready_; // cache hits for the next turn
  UvHandle<uv_timer_t> ready_timer_;
};

} // namespace upesi::dns
