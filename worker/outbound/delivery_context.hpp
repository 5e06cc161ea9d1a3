// DeliveryContext: what a Delivery needs from the engine that runs it, and nothing more. The
// delivery reads its settings, asks DNS, runs hooks, borrows pooled connections and queues
// bounces through it, and reports the end once, with a DeliveryOutcome.
#pragma once

#include <upesi/address.hpp>
#include <upesi/code.hpp>

#include "common/config/outbound_config.hpp"
#include "common/dns/dane_lookup.hpp"
#include "common/dns/mx_resolver.hpp"
#include "common/plugin/hook_table.hpp"
#include "worker/outbound/connection_pool.hpp"
#include "worker/outbound/delivery_outcome.hpp"
#include "worker/outbound/retry_schedule.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace upesi::outbound {

class TlsPolicy;
class MtaStsPolicies;
class TlsReportLog;

class DeliveryContext {
public:
  /// How queueing a message came out: Ok ("Message Queued (uuid)"), Deny (refused: no
  /// recipient, or pre_send_trans_email said DENY) or DenySoft (pre_send_trans_email said
  /// DENYSOFT, or the file could not be written).
  using QueuedCallback = std::function<void(Code code, const std::string& text)>;

  virtual ~DeliveryContext() = default;

  virtual uv_loop_t* loop() = 0;
  virtual const plugin::HookTable& hooks() const = 0;
  virtual const config::OutboundConfig& config() const = 0;
  virtual const RetrySchedule& retries() const = 0;
  /// The EHLO name and the bounce sender's domain.
  virtual const std::string& me() const = 0;
  virtual const std::string& bounceTemplate() const = 0;
  virtual const dns::MxResolver& mxResolver() const = 0;
  /// Questions whose AD bit means something (dns.ini validating=true), for DANE; null when
  /// the resolver is not trusted to validate.
  virtual const dns::AuthenticatedLookup* authenticatedLookup() const { return nullptr; }
  /// This server's own listener when `domain` (lower case) is one whose mail it delivers itself
  /// (outbound.ini deliver_host_list_locally), else nothing.
  virtual std::optional<dns::MxHost> localNextHop(const std::string& domain) const {
    (void)domain;
    return std::nullopt;
  }
  /// Destinations' MTA-STS policies; null when tls.ini [outbound] mta_sts=false.
  virtual MtaStsPolicies* mtaSts() { return nullptr; }
  /// Where DANE and MTA-STS outcomes are counted for TLS reports; null when none are kept.
  virtual TlsReportLog* tlsReports() { return nullptr; }
  /// Not const: a failed handshake changes what the policy remembers. Null without TLS.
  virtual TlsPolicy* tlsPolicy() = 0;
  virtual ConnectionPool& pool() = 0;

  /// The delivery of `name` (a file for `domain`) may go on: true, or false when the domain has
  /// destination_concurrency_max deliveries in flight: the delivery then ends (Done) without an
  /// attempt, and the file is due again when one of them ends.
  virtual bool admit(const std::string& name, const std::string& domain) = 0;
  /// The message of `name` has gone out whole, its reply awaited: its destination slot may go
  /// to the next file, whose message can then follow on the same connection (RFC 2920 3.1),
  /// so the destination's concurrency counts messages being sent, not replies awaited.
  virtual void messageSent(const std::string& name) = 0;
  /// The delivery of `name` waits for its turn on a connection in use (true), or its wait
  /// ended (false). While it waits it uses no connection and does not count against
  /// concurrency_max, which so bounds the connections in use, as Postfix's process limit does.
  virtual void awaitingTurn(const std::string& name, bool waiting) = 0;

  /// Queues a new message (a bounce, a success notice): `message` is the full text with CRLF
  /// line ends; it runs through pre_send_trans_email first.
  virtual void enqueueMessage(const Address& from, const std::vector<Address>& to,
                              std::string message, nlohmann::json notes, QueuedCallback done) = 0;

  /// The delivery of `name` ended so. Called once, last.
  virtual void deliveryDone(const std::string& name, DeliveryOutcome outcome) = 0;
};

} // namespace upesi::outbound
