// OutboundEngine: a worker's share of outbound mail. It queues relayed transactions (one
// durable file per domain before the 250), keeps an in-memory schedule of the queue directory
// (rebuilt from the file names at start, refreshed every scan_interval; at most scheduled_max
// files, the earliest due, the rest read in as room opens), and starts deliveries
// as they come due, up to concurrency_max, and to one destination domain up to
// destination_concurrency_max (the files beyond it wait for a delivery there to end). Files are
// claimed with flock, so any number of workers can share one queue directory and a dead
// worker's files are taken by the others.
//
// Threading: the loop thread; file work goes to the thread pool.
#pragma once

#include <upesi/connection.hpp>

#include "common/config/outbound_config.hpp"
#include "common/dns/mx_host.hpp"
#include "common/dns/mx_resolver.hpp"
#include "common/plugin/hook_table.hpp"
#include "common/util/clock.hpp"
#include "common/util/loop_timer.hpp"
#include "common/util/result.hpp"
#include "common/util/uv_handle.hpp"
#include "worker/outbound/connection_pool.hpp"
#include "worker/outbound/delivery_context.hpp"
#include "worker/outbound/delivery_outcome.hpp"
#include "worker/outbound/destination_slots.hpp"
#include "worker/outbound/mta_sts_policies.hpp"
#include "worker/outbound/outbound_metrics.hpp"
#include "worker/outbound/pending_splits.hpp"
#include "worker/outbound/queue_index.hpp"
#include "worker/outbound/queue_scan.hpp"
#include "worker/outbound/queue_writer_job.hpp"
#include "worker/outbound/retry_schedule.hpp"
#include "worker/outbound/tls_report_log.hpp"
#include "worker/outbound/tls_report_sender.hpp"

#include <uv.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace upesi::dns {
class Resolver;
}

namespace upesi::outbound {

class Delivery;

class TlsPolicy;

struct EngineSettings {
  config::OutboundConfig config;
  RetrySchedule retries;
  std::string me;       // EHLO name and bounce sender domain
  std::string hostname; // the host field of queue file names
  std::string bounce_template;
  std::shared_ptr<TlsPolicy> tls;    // STARTTLS/SMTPS decisions; never null once configured
  bool mta_sts = true;               // tls.ini [outbound] mta_sts
  std::filesystem::path mta_sts_dir; // where fetched MTA-STS policies are kept; empty: memory
  std::filesystem::path tls_rpt_dir; // TLS report counts (RFC 8460); empty: none kept or sent
  std::string tls_rpt_from;          // the reports' sender address
  // outbound.ini deliver_host_list_locally: host_list's domains (lower case) and the listener
  // their mail goes to.
  std::vector<std::string> local_domains;
  dns::MxHost local_next_hop;
};

// A Delivery sees the engine as its DeliveryContext alone.
class OutboundEngine final : private DeliveryContext {
public:
  OutboundEngine(uv_loop_t* loop, dns::Resolver* resolver,
                 std::shared_ptr<const plugin::HookTable> hooks, EngineSettings settings);
  ~OutboundEngine() override;
  OutboundEngine(const OutboundEngine&) = delete;
  OutboundEngine& operator=(const OutboundEngine&) = delete;

  /// Reads the queue directory and starts delivering what is due.
  void start();
  /// Starts no more deliveries (those in flight finish).
  void stop();
  /// SIGHUP: every deferred message is due now: those in the schedule, those in the queue
  /// directory, and those whose delivery is in flight and ends deferred.
  void flush();

  /// outbound.ini changed: disabled, concurrency, retries and timeouts apply from now on (the
  /// queue directory is kept: moving it takes a restart).
  void updateSettings(EngineSettings settings);

  /// A Message-Id (also in place of "<>") and a Date when missing (RFC 5321 section 6.4): done
  /// for relayed mail before queue_outbound, so that a DKIM signature made there covers them
  /// whichever plugin then takes the message.
  void addMissingIdentity(Transaction& txn) const;

  /// Haraka's send_trans_email fix-ups, for every message entering the queue before
  /// pre_send_trans_email sees it: addMissingIdentity, and our Received header first
  /// (outbound.ini received_header, unless "disabled").
  void prepareHeaders(Transaction& txn) const;

  /// Queues a relayed transaction (prepareHeaders and pre_send_trans_email done by the
  /// session); `done` gets the reply text for the client, or an error.
  void enqueue(std::shared_ptr<Transaction> txn, std::function<void(Result<std::string>)> done);

  using QueuedCallback = DeliveryContext::QueuedCallback;

  /// Queues a new message (a plugin's send_email, a bounce): `message` is the full text with
  /// CRLF line ends. It gets prepareHeaders and runs pre_send_trans_email (with a connection
  /// whose transaction is the new message) before it is written.
  void enqueueMessage(const Address& from, const std::vector<Address>& to, std::string message,
                      nlohmann::json notes, QueuedCallback done) override;

  /// enqueueMessage's outcome with the names of the queue files written (one per destination
  /// domain, or per recipient with always_split; none unless Ok).
  using SubmittedCallback = std::function<void(Code code, const std::string& text,
                                               const std::vector<std::string>& files)>;
  /// enqueueMessage for a caller that wants the queue files (the HTTP API answers with their
  /// ids).
  void submitMessage(const Address& from, const std::vector<Address>& to, std::string message,
                     nlohmann::json notes, SubmittedCallback done);

  /// The queue now and the counters (Host::outboundStats, process_title).
  OutboundStats stats() const;

  const std::filesystem::path& queueDir() const { return settings_.config.queue_dir; }
  std::size_t inFlight() const { return deliveries_.size(); }
  std::size_t scheduled() const { return index_.size(); }

private:
  struct Submission;

  // DeliveryContext
  uv_loop_t* loop() override { return loop_; }
  const plugin::HookTable& hooks() const override { return *hooks_; }
  const config::OutboundConfig& config() const override { return settings_.config; }
  const RetrySchedule& retries() const override { return settings_.retries; }
  const std::string& me() const override { return settings_.me; }
  const std::string& bounceTemplate() const override { return settings_.bounce_template; }
  const dns::MxResolver& mxResolver() const override { return mx_resolver_; }
  TlsReportLog* tlsReports() override { return tls_reports_.get(); }
  std::optional<dns::MxHost> localNextHop(const std::string& domain) const override;
  MtaStsPolicies* mtaSts() override { return settings_.mta_sts ? mta_sts_.get() : nullptr; }
  const dns::AuthenticatedLookup* authenticatedLookup() const override {
    return authenticated_lookup_ ? &authenticated_lookup_ : nullptr;
  }
  TlsPolicy* tlsPolicy() override { return settings_.tls.get(); }
  ConnectionPool& pool() override { return pool_; }
  bool admit(const std::string& name, const std::string& domain) override;
  void messageSent(const std::string& name) override;
  void awaitingTurn(const std::string& name, bool waiting) override;
  /// Deliveries that count against concurrency_max: those not waiting for a turn.
  bool roomForDelivery() const;
  /// The one place a delivery's end is acted on: the file scheduled again, held, kept as an
  /// unwritten split or forgotten; the counters; the destination slot and flush bookkeeping.
  void deliveryDone(const std::string& name, DeliveryOutcome outcome) override;

  void writeMessage(std::shared_ptr<Submission> submission);
  /// Files just written to the queue: due now, in their MT-PRIORITY order.
  void queued(const std::vector<QueuedFile>& files);
  /// Drops `owned` on a later loop turn: its owner may be the caller.
  void releaseLater(std::shared_ptr<void> owned);
  /// `destination`: the file's domain, lower-cased, when known.
  void schedule(const std::string& name, std::int64_t due_ms, const std::string& destination = {});
  void scan();
  /// A read of the queue directory ended: its files join the schedule.
  void scanned(QueueRead& read);
  /// How many files the schedule may hold now (scheduled_max less those waiting for a slot).
  std::size_t scheduleRoom() const;
  /// When the queue directory is to be read next (QueueIndex::Never: not until more room).
  std::int64_t nextReadMs() const;
  void pump();
  void armTimer();
  /// The queue gauges from stats() and the oldest file this worker holds: at most once a
  /// second (both walk the schedule).
  void updateQueueGauges(std::int64_t now_ms);
  static void onTimer(uv_timer_t* timer);

  uv_loop_t* loop_;
  dns::MxResolver mx_resolver_;
  dns::AuthenticatedLookup authenticated_lookup_; // empty unless the resolver validates
  std::unique_ptr<MtaStsPolicies> mta_sts_;       // null without a resolver
  std::unique_ptr<TlsReportLog> tls_reports_;     // null without tls_rpt_dir
  std::unique_ptr<TlsReportSender> tls_report_sender_;
  std::unique_ptr<LoopTimer> tls_report_timer_; // with tls_reports_
  std::string tls_reports_sent_for_;            // the day sendDue last ran for
  /// The minute's TLS report counts to their files; then, once a day, yesterday's reports.
  void tlsReportTick(bool send_now);
  std::shared_ptr<const plugin::HookTable> hooks_;
  EngineSettings settings_;
  bool running_ = false;
  bool scanning_ = false;
  bool flush_scan_ = false;                     // the coming scan's files are due now
  std::set<std::string> flushed_in_flight_;     // deliveries in flight at the last flush
  QueueIndex index_;                            // the files scheduled here
  std::shared_ptr<const FlushedNames> flushed_; // the last flush's files not yet taken in
  std::int64_t reread_not_before_ms_ = 0;
  std::int64_t disk_oldest_arrival_ms_ = 0; // of every queue file, at the last read
  bool left_out_logged_ = false;
  std::map<std::string, std::int64_t> delayed_; // names held back by send_email DELAY
  std::map<std::string, int> priorities_;       // MT-PRIORITY of files queued here (not 0)
  std::map<std::string, std::shared_ptr<Delivery>> deliveries_;
  std::set<std::string> awaiting_turn_; // of deliveries_, those waiting for a connection
  std::map<std::uint64_t, std::shared_ptr<Submission>> submissions_; // in pre_send_trans_email
  std::uint64_t next_submission_ = 1;
  OutboundStats counters_;
  UvHandle<uv_timer_t> timer_;
  std::int64_t next_scan_ms_ = 0;
  ConnectionPool pool_;
  DestinationSlots slots_;
  PendingSplits splits_;
  OutboundMetrics metrics_;
  std::int64_t next_gauges_ms_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Last, so destroyed first: what they hold may use the members above.
  UvHandle<uv_idle_t> releaser_;                // drops released_ on the next loop turn
  std::vector<std::shared_ptr<void>> released_; // see releaseLater()
};

} // namespace upesi::outbound
