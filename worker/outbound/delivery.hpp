// Delivery: one attempt at one queue file — claim it (flock), read its header, find the MX
// (get_mx hook, else DNS), try each MX address in turn, then settle every recipient:
// delivered (delivered hook), deferred (the file is renamed for its next attempt, or rewritten
// with the deferred recipients alone: see pending_splits.hpp), or bounced (bounce hook, then a
// DSN to the sender; a recipient whose DSN cannot be queued stays in the file, deferred, so the
// bounce is made again later). The file is removed only when nothing in it is left to do.
// The DSN, REQUIRETLS and MT-PRIORITY parameters of the todo shape the attempt, the bounces
// and the success notices as upesi/envelope_options.hpp describes. A delivery knows the engine
// only as its DeliveryContext, and tells it how the file ended once, with a DeliveryOutcome.
#pragma once

#include <upesi/outbound.hpp>

#include "common/dns/mx_resolver.hpp"
#include "common/plugin/hook_runner.hpp"
#include "common/plugin/process_connection.hpp"
#include "common/queue/queue_file.hpp"
#include "common/queue/queue_file_name.hpp"
#include "common/queue/queue_writer.hpp"
#include "common/smtp_client/smtp_client.hpp"
#include "common/tls_rpt/report.hpp"
#include "worker/outbound/delivery_context.hpp"
#include "worker/outbound/delivery_outcome.hpp"
#include "worker/outbound/dsn_message.hpp"
#include "worker/outbound/mx_spec.hpp"
#include "worker/outbound/recipient_results.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace upesi::outbound {

class HMailImpl final : public HMail {
public:
  HMailImpl(std::string file_name, std::string path, queue::Todo& todo, unsigned attempts);
  const std::string& uuid() const override { return todo_.uuid; }
  const std::string& domain() const override { return todo_.domain; }
  const Address& mailFrom() const override { return from_; }
  const std::vector<Address>& rcptTo() const override { return to_; }
  nlohmann::json& notes() override { return notes_; }
  unsigned attempts() const override { return attempts_; }
  const std::string& fileName() const override { return file_name_; }
  const std::string& path() const override { return path_; }
  std::int64_t queueTime() const override { return todo_.queue_time; }
  nlohmann::json& itemNotes() override { return item_notes_; }

  /// NOTIFY and ORCPT of the recipient with `recipient`'s address (none if unknown).
  RcptOptions rcptOptions(const Address& recipient) const;

private:
  std::string file_name_;
  std::string path_;
  queue::Todo& todo_;
  Address from_;
  std::vector<Address> to_;
  std::vector<RcptOptions> to_options_; // same order as to_
  nlohmann::json notes_;
  nlohmann::json item_notes_ = nlohmann::json::object();
  unsigned attempts_;
};

struct StsEntry;

class Delivery : public std::enable_shared_from_this<Delivery> {
public:
  Delivery(DeliveryContext& context, std::string name);
  ~Delivery();
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  void start();

private:
  void claimed(queue::QueueFileLock lock, queue::HeaderResult header, std::string headers);
  void runGetMx();
  /// The MX records of the domain (with DNSSEC when DANE applies), then resolveHosts.
  void lookupMxFromDns();
  /// Leaves out the MX hosts an MTA-STS policy in enforce mode does not name; false (and the
  /// delivery deferred) when none is left.
  bool keepStsHosts(std::vector<dns::MxHost>& hosts);
  void resolveHosts(std::vector<dns::MxHost> hosts, bool from_dns);
  void tryNextTarget();
  /// Connects to `target` (or joins a connection to it): the TLS options come from the policy
  /// and, for a host DANE covers, from its TLSA records, which are looked up first.
  void connectTarget(const dns::MxTarget& target);
  /// The policy TLS reports count this attempt under: DANE's (tls_policy_ dane, dane-encrypt)
  /// or the domain's MTA-STS policy; none otherwise.
  std::optional<tls_rpt::PolicyInfo> reportPolicy(const dns::MxTarget& target,
                                                  const dns::DaneRequirement* dane) const;
  static tls_rpt::PolicyInfo stsReportPolicy(const StsEntry& sts);
  /// A connection to `target` failed for a TLS reason: counted for the TLS report.
  void reportTlsFailure(const dns::MxTarget& target, const smtp_client::Security& security);
  /// Opens a connection of our own to `target` (client_options_ are set).
  void connect(const dns::MxTarget& target);
  /// client_ failed or was closed: let it go, and the pool know.
  void dropClient();
  /// The attempt's time, from the first connection to now: the next hop answered, or no MX did.
  void attemptEnded();
  void sendOn();
  void attemptDone(const smtp_client::DeliveryResult& result);
  void settle(RecipientResults results);
  void allTemporary(const std::string& reason);
  void allPermanent(const std::string& status, const std::string& reason);
  void afterBounce(std::vector<RecipientFailure> left, const std::string& reason);
  /// `then(true)` once the bounce is queued (or suppressed, or a double bounce dropped);
  /// `then(false)` when it could not be written: the recipients must stay in the queue.
  /// `after_deferrals`: they ran out of retries (the bounce hook's deferred_rcpt), else they
  /// were refused outright (bounced_rcpt).
  void bounce(std::vector<RecipientFailure> perm, std::string reason, bool after_deferrals,
              std::function<void(bool)> then);
  /// The undelivered message, unstuffed, when it is within bounce_size_limit; else "".
  /// The original's header and Subject as a bounce or notice returns them (redacted for a
  /// REQUIRETLS message).
  std::string returnedHeaders() const;
  std::string returnedSubject() const;
  void readOriginal(std::function<void(std::string)> then);
  void queueBounce(const std::vector<RecipientFailure>& perm, const std::string& reason,
                   std::string original, std::function<void(bool)> then);
  /// NOTIFY=SUCCESS recipients of `ok`: a notice to the sender (RFC 3461 6.2) when the next hop
  /// was the end (LMTP: "delivered") or took the message without DSN ("relayed"); a next hop
  /// offering DSN got the parameters and reports itself. Best effort: a notice that cannot be
  /// queued is logged, the delivery stands.
  void notifySuccess(const std::vector<Address>& ok);
  /// The DSN fields of a recipient: its ORCPT as Original-Recipient.
  FailedRecipient reportedRecipient(const Address& address) const;
  void defer(std::vector<RecipientFailure> temp, bool whole_file, std::string reason);
  /// The recipients `left` wait for their next attempt: the file is renamed (when they are all
  /// of it) or rewritten with them alone (when the others are done).
  void requeue(std::vector<RecipientFailure> left, bool whole_file, std::uint32_t attempts,
               std::int64_t due);
  void removeFile();
  /// Tells the engine, once.
  void finish(DeliveryOutcome outcome);
  void runHook(Hook hook, const HookParams& params, plugin::HookRunner::Done done);
  const std::string& logId() const;

  DeliveryContext& context_;
  std::string name_;
  queue::QueueFileName parsed_;
  queue::QueueFileLock lock_;
  queue::QueueFileHeader header_;
  std::string original_headers_;
  std::unique_ptr<HMailImpl> hmail_;
  plugin::ProcessConnection connection_;
  std::shared_ptr<plugin::HookRunner> hook_;
  std::vector<dns::MxTarget> targets_;
  std::size_t next_target_ = 0;
  std::shared_ptr<smtp_client::SmtpClient> client_; // shared with a message pipelined behind ours
  smtp_client::ClientOptions client_options_;
  bool reused_ = false;      // client_ came from the pool
  bool skip_pool_ = false;   // a pooled connection just failed: connect afresh
  bool plain_retry_ = false; // an opportunistic handshake just failed: the same MX without TLS
  std::string last_error_;
  bool finished_ = false;
  DeliveryCounts counts_;
  std::string mx_domain_;
  std::string mx_; // the MX host tried last (the bounce and deferred hooks' mx)
  DeferredInfo deferred_info_;
  BounceInfo bounce_info_;
  DeliveredInfo delivered_info_;
  std::int64_t started_ms_ = 0;
  std::optional<std::chrono::steady_clock::time_point> connecting_since_;
  std::optional<double> attempt_seconds_;
  bool next_hop_dsn_ = false; // the next hop of the last attempt offered DSN
  bool next_hop_lmtp_ = false;
  bool dane_ = false;      // DANE applies: a validating resolver and a domain that wants it
  bool mx_secure_ = false; // the MX hosts came from a validated MX RRset, or from a plugin
  std::map<std::string, dns::DaneRequirement> dane_by_host_; // by "host:port"
  std::shared_ptr<const StsEntry> sts_; // the domain's MTA-STS policy, testing or enforce
  std::optional<tls_rpt::PolicyInfo> report_policy_; // the TLS-RPT policy of this attempt
  std::string delivered_tls_; // the TLS version of the delivering connection; "" in clear
  std::string tls_policy_;    // what the last connection's TLS options carry out (describe())
};

} // namespace upesi::outbound
