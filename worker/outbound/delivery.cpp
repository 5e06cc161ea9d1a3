#include "worker/outbound/delivery.hpp"

#include "common/dns/dane_lookup.hpp"
#include "common/dns/mx_resolver.hpp"
#include "common/log/escape.hpp"
#include "common/log/logger.hpp"
#include "common/mail/header.hpp"
#include "common/util/clock.hpp"
#include "common/util/ip_literal.hpp"
#include "common/util/text.hpp"
#include "common/util/thread_pool.hpp"
#include "worker/outbound/mta_sts_policies.hpp"
#include "worker/outbound/outbound_metrics.hpp"
#include "worker/outbound/pending_splits.hpp"
#include "worker/outbound/plugin_delay.hpp"
#include "worker/outbound/tls_policy.hpp"
#include "worker/outbound/tls_report_log.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <optional>
#include <unistd.h>

namespace upesi::outbound {
namespace {

// TLSA records belong to a host and a port (_25._tcp.mx.example).
std::string daneKey(const dns::MxTarget& target) {
  return fmt::format("{}:{}", target.mx.exchange, target.mx.port);
}

// A bounce that could not be queued, after the last attempt: when the original is tried again.
constexpr std::int64_t BounceRetryMs = 60000;
// A queue file that could not be opened, read or renamed: when it is tried again.
constexpr std::int64_t FileErrorRetryMs = 60000;

} // namespace

HMailImpl::HMailImpl(std::string file_name, std::string path, queue::Todo& todo, unsigned attempts)
    : file_name_(std::move(file_name)), path_(std::move(path)), todo_(todo), attempts_(attempts) {
  if (auto from = queue::addressFromJson(todo.mail_from)) {
    from_ = *from;
  }
  for (const auto& r : todo.rcpt_to) {
    if (auto a = queue::addressFromJson(r)) {
      to_.push_back(*a);
      to_options_.push_back(queue::rcptOptionsFromJson(r));
    }
  }
  notes_ = todo.notes; // converted, not dump()ed and parsed: dump() throws on bytes not UTF-8
}

RcptOptions HMailImpl::rcptOptions(const Address& recipient) const {
  for (std::size_t i = 0; i < to_.size(); ++i) {
    if (to_[i].address() == recipient.address()) {
      return to_options_[i];
    }
  }
  return {};
}

Delivery::Delivery(DeliveryContext& context, std::string name)
    : context_(context), name_(std::move(name)), started_ms_(epochMs()) {}

Delivery::~Delivery() {
  if (hook_) {
    hook_->cancel();
  }
}

const std::string& Delivery::logId() const {
  return hmail_ ? hmail_->uuid() : name_;
}

void Delivery::start() {
  auto parsed = queue::QueueFileName::parse(name_);
  if (!parsed) {
    finish(DeliveryOutcome::done());
    return;
  }
  parsed_ = *parsed;
  struct Claim {
    std::variant<queue::QueueFileLock, queue::ClaimError> lock;
    std::optional<queue::HeaderResult> header;
    std::string headers;
  };
  auto claim = std::make_shared<Claim>();
  std::string dir = context_.config().queue_dir.string();
  std::string name = name_;
  auto self = shared_from_this();
  runOnThreadPool(
      context_.loop(),
      [claim, dir, name] {
        claim->lock = queue::claimQueueFile(dir, name);
        auto* lock = std::get_if<queue::QueueFileLock>(&claim->lock);
        if (lock == nullptr) {
          return;
        }
        claim->header = queue::readHeader(lock->fd());
        if (claim->header->ok()) {
          // The original header block, for a bounce's text/rfc822-headers part.
          std::string buf(65536, '\0');
          ssize_t n = ::pread(lock->fd(), buf.data(), buf.size(),
                              static_cast<off_t>((*claim->header)->message_offset));
          buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
          auto end = buf.find("\r\n\r\n");
          claim->headers = buf.substr(0, end == std::string::npos ? buf.size() : end + 2);
        }
      },
      [self, claim] {
        if (auto* error = std::get_if<queue::ClaimError>(&claim->lock)) {
          if (error->kind == queue::ClaimFailure::Error) {
            log::error({self->name_, ""}, "outbound: cannot open {}: {}", self->name_,
                       error->message);
            self->finish(DeliveryOutcome::due(self->name_, epochMs() + FileErrorRetryMs));
          } else {
            self->finish(DeliveryOutcome::done()); // another worker has it, or it is gone
          }
          return;
        }
        self->claimed(std::move(std::get<queue::QueueFileLock>(claim->lock)),
                      std::move(*claim->header), std::move(claim->headers));
      });
}

void Delivery::claimed(queue::QueueFileLock lock, queue::HeaderResult header, std::string headers) {
  lock_ = std::move(lock);
  if (!header) {
    if (header.corrupt()) {
      log::error({name_, ""}, "outbound: {} is unreadable ({}): moving it aside as error.{}", name_,
                 header.error(), name_);
      auto self = shared_from_this();
      std::string dir = context_.config().queue_dir.string();
      runOnThreadPool(
          context_.loop(), [dir, name = name_] { (void)queue::moveToError(dir, name); },
          [self] { self->finish(DeliveryOutcome::done()); });
    } else {
      log::error({name_, ""}, "outbound: reading {}: {}", name_, header.error());
      finish(DeliveryOutcome::due(name_, epochMs() + FileErrorRetryMs));
    }
    return;
  }
  header_ = std::move(header).value();
  original_headers_ = std::move(headers);
  hmail_ = std::make_unique<HMailImpl>(
      name_, std::filesystem::absolute(context_.config().queue_dir / name_).string(), header_.todo,
      parsed_.attempts);
  if (hmail_->rcptTo().empty()) {
    log::warn({logId(), ""}, "outbound: {} has no recipients left: removing it", name_);
    removeFile();
    return;
  }
  if (!context_.admit(name_, header_.todo.domain)) {
    // It waits for a delivery to its domain to end; the engine has its name.
    finish(DeliveryOutcome::done());
    return;
  }
  // send_email: a plugin may hold the message back (DELAY, seconds). Haraka ignores every
  // other code here and goes on to get_mx: a plugin written for Haraka that answers OK or DENY
  // expects the message delivered, never dropped or bounced.
  HookParams params;
  params.hmail = hmail_.get();
  auto self = shared_from_this();
  runHook(Hook::SendEmail, params, [self](plugin::HookResult result) {
    if (result.code == Code::Delay) {
      const auto delay = parsePluginDelay(result.message);
      if (!delay) {
        log::warn({self->logId(), result.plugin},
                  "outbound: send_email answered DELAY without a number of seconds ({}): "
                  "delaying it {} s",
                  result.message.empty() ? std::string("none") : log::escaped(result.message[0]),
                  DefaultSendEmailDelaySeconds);
      }
      const std::uint64_t seconds = delay.value_or(DefaultSendEmailDelaySeconds);
      log::info({self->logId(), result.plugin}, "outbound: send_email delayed it {} s", seconds);
      self->finish(DeliveryOutcome::delayed(self->name_,
                                            epochMs() + static_cast<std::int64_t>(seconds) * 1000));
      return;
    }
    if (result.code != Code::Cont) {
      log::warn({self->logId(), result.plugin},
                "outbound: send_email answered {}{}: ignored (only DELAY counts there, as in "
                "Haraka): delivering",
                toString(result.code),
                result.message.empty() ? "" : " \"" + log::escaped(result.message.front()) + "\"");
    }
    self->runGetMx();
  });
}

void Delivery::runHook(Hook hook, const HookParams& params, plugin::HookRunner::Done done) {
  hook_ = plugin::HookRunner::run(context_.loop(), context_.hooks(), hook, connection_, params,
                                  logId(), std::move(done));
}

void Delivery::runGetMx() {
  mx_domain_ = header_.todo.domain;
  const TlsPolicy* policy = context_.tlsPolicy();
  dane_ = context_.authenticatedLookup() != nullptr && policy != nullptr &&
          policy->wantsDane(mx_domain_);
  // A next hop a plugin named is as trusted as the config: DANE goes by its own records
  // (RFC 7672 2.2.2's non-MX destinations, as Postfix does for a relayhost).
  mx_secure_ = true;
  HookParams params;
  params.hmail = hmail_.get();
  params.domain = mx_domain_;
  auto self = shared_from_this();
  runHook(Hook::GetMx, params, [self](plugin::HookResult result) {
    if (result.code == Code::Ok && !result.message.empty()) {
      std::vector<dns::MxHost> hosts;
      for (const auto& line : result.message) {
        std::vector<std::string> warnings;
        auto mx = parseMxSpec(line, &warnings);
        for (const auto& w : warnings) {
          log::warn({self->logId(), result.plugin}, "get_mx: {}", w);
        }
        if (!mx) {
          log::error({self->logId(), result.plugin}, "get_mx: {}", mx.error());
          continue;
        }
        hosts.push_back(*mx);
      }
      if (hosts.empty()) {
        self->allTemporary("get_mx answered no usable MX");
        return;
      }
      self->resolveHosts(std::move(hosts), false);
      return;
    }
    if (result.code == Code::Deny || result.code == Code::DenyDisconnect) {
      self->allPermanent("5.1.2", result.message.empty() ? "No MX for " + self->mx_domain_
                                                         : result.message.front());
      return;
    }
    if (result.code == Code::DenySoft || result.code == Code::DenySoftDisconnect) {
      self->allTemporary(result.message.empty() ? "get_mx deferred the delivery"
                                                : result.message.front());
      return;
    }
    if (auto hop = self->context_.localNextHop(text::toLower(self->mx_domain_))) {
      log::debug({self->logId(), ""},
                 "outbound: {} is in host_list: delivering to this server at "
                 "{}:{}",
                 self->mx_domain_, hop->exchange, hop->port);
      self->dane_ = false;
      self->resolveHosts({std::move(*hop)}, false);
      return;
    }
    MtaStsPolicies* sts = self->context_.mtaSts();
    if (sts == nullptr) {
      self->lookupMxFromDns();
      return;
    }
    sts->policyFor(text::toLower(self->mx_domain_), [self](std::shared_ptr<const StsEntry> entry,
                                                           const std::string& note) {
      if (self->finished_) {
        return;
      }
      if (entry && entry->policy.mode != mta_sts::Mode::None) {
        self->sts_ = std::move(entry);
      }
      log::debug({self->logId(), ""}, "outbound: MTA-STS for {}: {}{}", self->mx_domain_,
                 self->sts_ ? mta_sts::toString(self->sts_->policy.mode) : "no policy",
                 note.empty() ? "" : " (" + note + ")");
      self->lookupMxFromDns();
    });
  });
}

void Delivery::lookupMxFromDns() {
  auto self = shared_from_this();
  auto planned = [self](dns::MxPlan plan) {
    if (self->finished_) {
      return;
    }
    switch (plan.kind) {
    case dns::MxPlan::Kind::Hosts:
    case dns::MxPlan::Kind::Implicit:
      if (!self->keepStsHosts(plan.hosts)) {
        return;
      }
      self->resolveHosts(std::move(plan.hosts), true);
      return;
    case dns::MxPlan::Kind::NullMx:
      self->allPermanent("5.1.10", plan.reason);
      return;
    case dns::MxPlan::Kind::NoDomain:
      self->allPermanent("5.1.2", plan.reason);
      return;
    case dns::MxPlan::Kind::TempFail:
      self->allTemporary(plan.reason);
      return;
    }
  };
  if (!dane_) {
    context_.mxResolver().lookupMx(mx_domain_, std::move(planned));
    return;
  }
  dns::lookupSecureMx(*context_.authenticatedLookup(), mx_domain_,
                      [self, planned = std::move(planned)](dns::MxPlan plan, bool secure) {
                        // RFC 7672 2.2.1: an MX RRset DNSSEC did not validate gets no DANE.
                        self->mx_secure_ = secure;
                        if (!secure) {
                          log::debug({self->logId(), ""},
                                     "outbound: MX records of {} not DNSSEC-validated: no DANE",
                                     self->mx_domain_);
                        }
                        planned(std::move(plan));
                      });
}

bool Delivery::keepStsHosts(std::vector<dns::MxHost>& hosts) {
  if (!sts_) {
    return true;
  }
  std::vector<dns::MxHost> kept;
  for (auto& host : hosts) {
    if (sts_->policy.matches(host.exchange)) {
      kept.push_back(std::move(host));
      continue;
    }
    // RFC 8461 4.1: in enforce mode an MX the policy does not name is not used; in testing
    // mode it is, and the mismatch only reported.
    log::info({logId(), ""}, "outbound: MX {} of {} is not in its MTA-STS policy ({}){}",
              host.exchange, mx_domain_, fmt::join(sts_->policy.mx, ", "),
              sts_->policy.mode == mta_sts::Mode::Enforce ? ": not used" : " (testing: used)");
    if (sts_->policy.mode != mta_sts::Mode::Enforce) {
      if (auto* reports = context_.tlsReports()) {
        reports->failure(text::toLower(mx_domain_), stsReportPolicy(*sts_),
                         tls_rpt::Failure{tls_rpt::ResultType::ValidationFailure, "", host.exchange,
                                          "", "MX not in the policy"});
      }
      kept.push_back(std::move(host));
    }
  }
  if (kept.empty()) {
    countTlsPolicySession("mta-sts", tls_rpt::toString(tls_rpt::ResultType::ValidationFailure));
    if (auto* reports = context_.tlsReports()) {
      reports->failure(text::toLower(mx_domain_), stsReportPolicy(*sts_),
                       tls_rpt::Failure{tls_rpt::ResultType::ValidationFailure, "",
                                        hosts.empty() ? "" : hosts.front().exchange, "",
                                        "no MX matches the policy"});
    }
    allTemporary(fmt::format("MTA-STS: no MX of {} matches its policy (mx: {})", mx_domain_,
                             fmt::join(sts_->policy.mx, ", ")));
    return false;
  }
  hosts = std::move(kept);
  return true;
}

void Delivery::resolveHosts(std::vector<dns::MxHost> hosts, bool from_dns) {
  const auto& config = context_.config();
  dns::TargetRules rules;
  rules.ipv6 = config.ipv6_enabled;
  // An MX a plugin named may be local on purpose; one from DNS is a loop or a trap.
  rules.skip_local = from_dns && !config.local_mx_ok;
  auto self = shared_from_this();
  context_.mxResolver().lookupTargets(std::move(hosts), rules, [self](dns::MxTargets found) {
    if (self->finished_) {
      return;
    }
    for (const auto& skipped : found.skipped) {
      log::warn({self->logId(), ""},
                "outbound: MX {} is at local address {}: skipped (local_mx_ok)",
                skipped.mx.exchange, skipped.ip);
    }
    self->targets_ = std::move(found.targets);
    self->last_error_ = std::move(found.error);
    if (self->targets_.empty()) {
      self->allTemporary(self->last_error_.empty() ? "no address for any MX of " + self->mx_domain_
                                                   : self->last_error_);
      return;
    }
    self->tryNextTarget();
  });
}

void Delivery::tryNextTarget() {
  if (finished_) {
    return;
  }
  if (next_target_ >= targets_.size()) {
    attemptEnded();
    allTemporary(fmt::format("Tried all MXs: {}", last_error_));
    return;
  }
  if (!connecting_since_) {
    connecting_since_ = std::chrono::steady_clock::now();
  }
  const dns::MxTarget& target = targets_[next_target_++];
  mx_ = target.mx.exchange;
  if (dane_ && mx_secure_ && !isIpLiteral(target.mx.exchange) &&
      !dane_by_host_.contains(daneKey(target))) {
    auto self = shared_from_this();
    dns::lookupDane(*context_.authenticatedLookup(), target.mx.exchange, target.mx.port,
                    [self, target](dns::DaneRequirement found) {
                      if (self->finished_) {
                        return;
                      }
                      log::debug({self->logId(), ""}, "outbound: DANE for {}: {}",
                                 target.mx.exchange, found.reason);
                      self->dane_by_host_[daneKey(target)] = std::move(found);
                      self->connectTarget(target);
                    });
    return;
  }
  connectTarget(target);
}

void Delivery::connectTarget(const dns::MxTarget& target) {
  const dns::DaneRequirement* dane = nullptr;
  if (auto it = dane_by_host_.find(daneKey(target)); it != dane_by_host_.end()) {
    dane = &it->second;
  }
  if (dane != nullptr && dane->kind == dns::DaneRequirement::Kind::Failed) {
    countTlsPolicySession("dane", tls_rpt::toString(tls_rpt::ResultType::DnssecInvalid));
    if (auto* reports = context_.tlsReports()) {
      tls_rpt::Failure failure{tls_rpt::ResultType::DnssecInvalid, "", target.mx.exchange,
                               target.ip, dane->reason};
      reports->failure(text::toLower(mx_domain_),
                       tls_rpt::PolicyInfo{tls_rpt::PolicyType::Tlsa, {}, {target.mx.exchange}},
                       failure);
    }
    last_error_ = fmt::format("{} [{}]: DANE: {}", target.mx.exchange, target.ip, dane->reason);
    log::info({logId(), ""}, "outbound: {}", last_error_);
    tryNextTarget();
    return;
  }
  const auto& config = context_.config();
  smtp_client::ClientOptions options;
  options.ip = target.ip;
  options.port = target.mx.port;
  options.host = target.mx.exchange;
  // Source address and HELO: the MX's (get_mx), else the transaction's notes (Haraka's
  // outbound_ip / outbound_helo), else any address and config/me.
  const auto& notes = hmail_->notes();
  auto note = [&notes](const char* key) {
    auto it = notes.find(key);
    return it != notes.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  options.local_ip = !target.mx.bind.empty() ? target.mx.bind : note("outbound_ip");
  options.helo = !target.mx.bind_helo.empty()     ? target.mx.bind_helo
                 : !note("outbound_helo").empty() ? note("outbound_helo")
                                                  : context_.me();
  options.lmtp = target.mx.using_lmtp;
  options.pipeline_messages = config.pipeline_messages;
  options.timeouts.connect = std::chrono::seconds(config.connect_timeout_s);
  options.timeouts.greeting = std::chrono::seconds(config.greeting_timeout_s);
  options.log_id = logId();
  if (const TlsPolicy* policy = context_.tlsPolicy()) {
    const bool sts_enforce = sts_ && sts_->policy.mode == mta_sts::Mode::Enforce;
    std::string applied;
    options.tls = policy->decide(target.mx.exchange, target.ip, target.mx.port, mx_domain_,
                                 TlsPolicy::Clock::now(), dane, sts_enforce, &applied);
    tls_policy_ = applied.empty() ? TlsPolicy::describe(options.tls, dane) : applied;
    report_policy_ = reportPolicy(target, dane);
    if (!plain_retry_ && options.tls.mode == smtp_client::TlsMode::Off &&
        policy->remembersFailure(target.mx.exchange)) {
      log::warn({logId(), ""},
                "outbound: sending to {} [{}] without TLS: its TLS handshake failed recently "
                "(tls.ini [outbound] fallback_to_plain)",
                target.mx.exchange, target.ip);
    }
  }
  if (plain_retry_) {
    options.tls.mode = smtp_client::TlsMode::Off;
    plain_retry_ = false;
  }
  if (header_.todo.requiretls) {
    // RFC 8689 4.2.1: TLS with a verified certificate or nothing, whatever the policy says
    // of this host; the client refuses to send (5.7.30) without it or the server's REQUIRETLS.
    if (options.tls.mode != smtp_client::TlsMode::Implicit) {
      options.tls.mode = smtp_client::TlsMode::Opportunistic;
    }
    options.tls.verify = true;
  }
  options.auth.user = target.mx.auth_user;
  options.auth.password = target.mx.auth_pass;
  options.auth.type = target.mx.auth_type;
  options.auth.required = target.mx.auth_required;
  client_options_ = options;
  if (!skip_pool_) {
    if (auto pooled = context_.pool().take(options)) {
      client_ = std::move(pooled);
      reused_ = true;
      log::debug({logId(), ""}, "outbound: reusing a connection to {} [{}]", target.mx.exchange,
                 target.ip);
      sendOn();
      return;
    }
  }
  if (!skip_pool_) {
    // Rather than a connection of our own, the next turn on one in use (the pool says when).
    std::weak_ptr<Delivery> weak = shared_from_this();
    const bool waits = context_.pool().await(
        options, [weak, target](std::shared_ptr<smtp_client::SmtpClient> client) {
          auto self = weak.lock();
          if (!self || self->finished_) {
            return false;
          }
          self->context_.awaitingTurn(self->name_, false);
          if (!client) {
            self->connect(target);
            return true;
          }
          if (!client->acceptsAnother() && !client->ready()) {
            self->connect(target);
            return true;
          }
          self->client_ = std::move(client);
          self->reused_ = true;
          log::debug({self->logId(), ""}, "outbound: reusing a connection to {} [{}] in turn",
                     target.mx.exchange, target.ip);
          self->sendOn();
          return true;
        });
    if (waits) {
      log::debug({logId(), ""}, "outbound: waiting for a connection in use to {} [{}]",
                 target.mx.exchange, target.ip);
      context_.awaitingTurn(name_, true);
      return;
    }
  }
  connect(target);
}

std::optional<tls_rpt::PolicyInfo> Delivery::reportPolicy(const dns::MxTarget& target,
                                                          const dns::DaneRequirement* dane) const {
  if (tls_policy_ == "dane" || tls_policy_ == "dane-encrypt") {
    tls_rpt::PolicyInfo info{tls_rpt::PolicyType::Tlsa, {}, {target.mx.exchange}};
    if (dane != nullptr) {
      for (const auto& r : dane->records) {
        info.strings.push_back(
            fmt::format("{} {} {} {}", r.usage, r.selector, r.matching, text::hexLower(r.data)));
      }
    }
    return info;
  }
  if (sts_) {
    return stsReportPolicy(*sts_);
  }
  return std::nullopt;
}

tls_rpt::PolicyInfo Delivery::stsReportPolicy(const StsEntry& sts) {
  tls_rpt::PolicyInfo info{tls_rpt::PolicyType::Sts, {}, sts.policy.mx};
  std::string_view text = sts.text;
  while (!text.empty()) {
    auto lf = text.find('\n');
    std::string_view line = text.substr(0, lf);
    text = lf == std::string_view::npos ? std::string_view() : text.substr(lf + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (!line.empty()) {
      info.strings.emplace_back(line);
    }
  }
  return info;
}

void Delivery::reportTlsFailure(const dns::MxTarget& target,
                                const smtp_client::Security& security) {
  if (security.failure == smtp_client::TlsFailure::None) {
    return;
  }
  const std::string verify_error = security.tls ? security.tls->verify_error : "";
  countTlsPolicySession(tls_policy_,
                        tls_rpt::toString(resultTypeOf(security.failure, verify_error,
                                                       !client_options_.tls.tlsa.empty())));
  auto* reports = context_.tlsReports();
  if (reports == nullptr || !report_policy_) {
    return;
  }
  // An MTA-STS policy in testing mode reports failures only where it was in force.
  if (report_policy_->type == tls_rpt::PolicyType::Sts && tls_policy_ != "mta-sts") {
    return;
  }
  tls_rpt::Failure failure;
  failure.type = resultTypeOf(security.failure, verify_error,
                              report_policy_->type == tls_rpt::PolicyType::Tlsa);
  failure.sending_ip = client_options_.local_ip;
  failure.receiving_mx = target.mx.exchange;
  failure.receiving_ip = target.ip;
  failure.reason = verify_error;
  reports->failure(text::toLower(mx_domain_), *report_policy_, failure);
}

void Delivery::connect(const dns::MxTarget& target) {
  skip_pool_ = false;
  reused_ = false;
  client_ = context_.pool().open(client_options_);
  auto self = shared_from_this();
  client_->connect([self, target](const smtp_client::Status& status) {
    if (!status.ok()) {
      self->last_error_ = fmt::format("{} [{}]: {}", target.mx.exchange, target.ip, status.reason);
      log::info({self->logId(), ""}, "outbound: {} (tls policy {})", self->last_error_,
                self->tls_policy_);
      self->reportTlsFailure(target, self->client_->security());
      bool tls_failed = self->client_->security().tls_failed &&
                        self->client_options_.tls.mode == smtp_client::TlsMode::Opportunistic;
      self->dropClient();
      // As Haraka does: a host whose TLS is broken gets mail in clear rather than none, unless
      // fallback_to_plain=false; then it is the next MX's turn, and at the end a deferral.
      if (tls_failed && !self->header_.todo.requiretls &&
          self->context_.tlsPolicy()->handshakeFailed(target.mx.exchange)) {
        log::warn({self->logId(), ""},
                  "outbound: TLS with {} [{}] failed: trying again without TLS", target.mx.exchange,
                  target.ip);
        self->plain_retry_ = true;
        --self->next_target_;
      } else if (tls_failed) {
        log::warn({self->logId(), ""},
                  "outbound: TLS with {} [{}] failed: not sending in clear (tls.ini [outbound] "
                  "fallback_to_plain=false)",
                  target.mx.exchange, target.ip);
      }
      self->tryNextTarget();
      return;
    }
    self->sendOn();
  });
}

void Delivery::sendOn() {
  smtp_client::Envelope envelope;
  envelope.sender = hmail_->mailFrom();
  envelope.recipients = hmail_->rcptTo();
  for (const auto& rcpt : envelope.recipients) {
    envelope.rcpt_options.push_back(hmail_->rcptOptions(rcpt));
  }
  const auto& todo = header_.todo;
  envelope.options.dsn_ret = todo.dsn_ret;
  envelope.options.dsn_envid = todo.dsn_envid;
  envelope.options.requiretls = todo.requiretls;
  envelope.options.has_mt_priority = todo.mt_priority.has_value();
  envelope.options.mt_priority = todo.mt_priority.value_or(0);
  if (header_.file_size > header_.message_offset) {
    envelope.size = header_.file_size - header_.message_offset;
  }
  // With the length known, one read of the right size fetches a small message whole.
  auto source =
      smtp_client::fileSource(context_.loop(), lock_.fd(),
                              static_cast<std::int64_t>(header_.message_offset), envelope.size);
  auto self = shared_from_this();
  std::weak_ptr<Delivery> weak = self;
  client_->send(
      envelope, source,
      [self](const smtp_client::DeliveryResult& result) { self->attemptDone(result); },
      [weak] {
        // Our message is out: the next one to this next hop may follow it at once, on this
        // connection, and takes our destination slot (when the server pipelines).
        auto delivery = weak.lock();
        if (delivery && delivery->client_ && delivery->client_->acceptsAnother()) {
          delivery->context_.pool().offer(delivery->client_options_, delivery->client_);
          delivery->context_.messageSent(delivery->name_);
        }
      });
}

void Delivery::attemptDone(const smtp_client::DeliveryResult& result) {
  if (finished_) {
    return;
  }
  // The connection failed before the next hop took any responsibility: try the next address.
  if (!result.message.ok() && result.message.code == 0 &&
      result.message.outcome == smtp_client::Outcome::Temporary) {
    last_error_ =
        fmt::format("{} [{}]: {}", result.remote.host, result.remote.ip, result.message.reason);
    dropClient();
    if (reused_) {
      // A pooled connection may have died while it idled: once more on a fresh one.
      log::info({logId(), ""}, "outbound: pooled connection failed ({}): connecting afresh",
                last_error_);
      skip_pool_ = true;
      --next_target_;
    }
    tryNextTarget();
    return;
  }
  attemptEnded();
  mx_ = result.remote.host;
  delivered_info_.host = result.remote.host;
  delivered_info_.ip = result.remote.ip;
  delivered_info_.port = result.remote.port;
  delivered_info_.mode = result.lmtp ? "LMTP" : "SMTP";
  delivered_info_.response = result.message.reason;
  delivered_info_.secured = result.security.secured();
  delivered_tls_ = result.security.tls ? result.security.tls->version : "";
  countTlsPolicySession(tls_policy_, "delivered");
  if (auto* reports = context_.tlsReports(); reports && report_policy_) {
    const bool testing =
        report_policy_->type == tls_rpt::PolicyType::Sts && tls_policy_ != "mta-sts";
    const auto& tls = result.security.tls;
    if (testing && (!tls || !tls->verified)) {
      // MTA-STS in testing mode (RFC 8461 5): delivered all the same, reported as it would
      // have failed in enforce mode.
      tls_rpt::Failure failure;
      failure.type =
          tls ? resultTypeOf(smtp_client::TlsFailure::CertificateInvalid, tls->verify_error, false)
              : tls_rpt::ResultType::StarttlsNotSupported;
      failure.sending_ip = client_options_.local_ip;
      failure.receiving_mx = result.remote.host;
      failure.receiving_ip = result.remote.ip;
      failure.reason = tls ? tls->verify_error : "";
      reports->failure(text::toLower(mx_domain_), *report_policy_, failure);
    } else if (tls) {
      reports->success(text::toLower(mx_domain_), *report_policy_);
    }
  }
  delivered_info_.authenticated = result.security.authenticated();
  next_hop_dsn_ = client_ && client_->capabilities().dsn;
  next_hop_lmtp_ = result.lmtp;
  RecipientResults results = sortRecipients(hmail_->rcptTo(), result);
  context_.pool().release(client_options_, std::move(client_));
  settle(std::move(results));
}

void Delivery::dropClient() {
  // Those waiting for this connection's next turn hear that it will not come.
  auto client = std::move(client_);
  context_.pool().forget(client_options_, client);
}

void Delivery::attemptEnded() {
  if (connecting_since_) {
    attempt_seconds_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - *connecting_since_)
            .count();
  }
}

void Delivery::allTemporary(const std::string& reason) {
  settle(allDeferred(hmail_->rcptTo(), reason));
}

void Delivery::allPermanent(const std::string& status, const std::string& reason) {
  settle(allBounced(hmail_->rcptTo(), status, reason));
}

void Delivery::settle(RecipientResults results) {
  auto self = shared_from_this();
  auto afterDelivered = [self, temp = std::move(results.temp), perm = std::move(results.perm),
                         temp_reason = results.temp_reason,
                         perm_reason = results.perm_reason]() mutable {
    if (perm.empty()) {
      self->afterBounce(std::move(temp), temp_reason);
      return;
    }
    auto unbounced = perm;
    self->bounce(std::move(perm), perm_reason, false,
                 [self, temp = std::move(temp), unbounced = std::move(unbounced), temp_reason,
                  perm_reason](bool bounced) mutable {
                   std::string reason = temp_reason;
                   if (!bounced) {
                     // Tried again with the deferred ones: the next 5xx makes the bounce anew.
                     if (temp.empty()) {
                       reason = perm_reason;
                     }
                     temp.insert(temp.end(), unbounced.begin(), unbounced.end());
                   }
                   self->afterBounce(std::move(temp), reason);
                 });
  };
  if (results.ok.empty()) {
    afterDelivered();
    return;
  }
  log::info({logId(), ""},
            "outbound: delivered to {} recipient(s) via {} [{}] (tls policy {}, {}): {}",
            results.ok.size(), delivered_info_.host, delivered_info_.ip, tls_policy_,
            delivered_tls_.empty() ? "plain" : delivered_tls_, delivered_info_.response);
  ++counts_.delivered;
  delivered_info_.ok_recips = std::move(results.ok);
  delivered_info_.delay_s = static_cast<double>(epochMs() - header_.todo.queue_time) / 1000.0;
  notifySuccess(delivered_info_.ok_recips);
  HookParams params;
  params.hmail = hmail_.get();
  params.delivered = &delivered_info_;
  runHook(Hook::Delivered, params,
          [afterDelivered](plugin::HookResult) mutable { afterDelivered(); });
}

void Delivery::afterBounce(std::vector<RecipientFailure> left, const std::string& reason) {
  if (left.empty()) {
    removeFile();
    return;
  }
  bool whole = left.size() == hmail_->rcptTo().size();
  defer(std::move(left), whole, reason);
}

void Delivery::bounce(std::vector<RecipientFailure> perm, std::string reason, bool after_deferrals,
                      std::function<void(bool)> then) {
  bounce_info_ = BounceInfo{};
  for (const auto& f : perm) {
    (after_deferrals ? bounce_info_.deferred_rcpt : bounce_info_.bounced_rcpt).push_back(f.address);
  }
  bounce_info_.error = reason;
  bounce_info_.mx = mx_;
  log::warn({logId(), ""}, "outbound: bouncing {} recipient(s): {}", perm.size(), reason);
  ++counts_.bounced;
  HookParams params;
  params.hmail = hmail_.get();
  params.bounce = &bounce_info_;
  auto self = shared_from_this();
  runHook(Hook::Bounce, params,
          [self, perm = std::move(perm), reason,
           then = std::move(then)](plugin::HookResult result) mutable {
            if (result.code != Code::Cont) {
              log::info({self->logId(), result.plugin},
                        "outbound: bounce suppressed by the bounce hook");
              then(true);
              return;
            }
            const Address& sender = self->hmail_->mailFrom();
            if (sender.is_null) {
              log::warn({self->logId(), ""}, "outbound: double bounce (the sender is <>): dropped");
              then(true);
              return;
            }
            // RFC 3461 4.1: a recipient given NOTIFY without FAILURE gets no bounce.
            std::erase_if(perm, [&self](const RecipientFailure& f) {
              return !self->hmail_->rcptOptions(f.address).notify.wantsFailure();
            });
            if (perm.empty()) {
              log::info({self->logId(), ""},
                        "outbound: no bounce sent: the recipients asked for none (NOTIFY)");
              then(true);
              return;
            }
            self->readOriginal([self, perm = std::move(perm), reason,
                                then = std::move(then)](std::string original) mutable {
              self->queueBounce(perm, reason, std::move(original), std::move(then));
            });
          });
}

// A notice about a REQUIRETLS message may travel without TLS, so it is redacted (RFC 8689
// section 5): of the original's header only what identifies it, and no Subject.
std::string Delivery::returnedHeaders() const {
  if (!header_.todo.requiretls) {
    return original_headers_;
  }
  const auto header = mail::Header::parse(original_headers_);
  std::string kept;
  for (const char* name : {"Message-ID", "Date"}) {
    for (const auto& value : header.getAll(name)) {
      kept += fmt::format("{}: {}\r\n", name, value);
    }
  }
  return kept;
}

std::string Delivery::returnedSubject() const {
  if (header_.todo.requiretls) {
    return {};
  }
  return mail::Header::parse(original_headers_).get("Subject").value_or("");
}

void Delivery::readOriginal(std::function<void(std::string)> then) {
  std::uint64_t limit = context_.config().bounce_size_limit;
  // RET=HDRS asks for the header alone; a REQUIRETLS message's content must not travel in a
  // bounce that may go without TLS (RFC 8689 5).
  if (header_.todo.dsn_ret == DsnReturn::Headers || header_.todo.requiretls) {
    limit = 0;
  }
  std::uint64_t size =
      header_.file_size > header_.message_offset ? header_.file_size - header_.message_offset : 0;
  if (size == 0 || size > limit || !lock_.held()) {
    then({}); // the header alone (read when the file was claimed)
    return;
  }
  auto text = std::make_shared<std::string>();
  int fd = lock_.fd();
  auto offset = static_cast<off_t>(header_.message_offset);
  runOnThreadPool(
      context_.loop(),
      [text, fd, offset, size] {
        std::string stuffed(size, '\0');
        std::size_t got = 0;
        while (got < size) {
          ssize_t n =
              ::pread(fd, stuffed.data() + got, size - got, offset + static_cast<off_t>(got));
          if (n < 0 && errno == EINTR) {
            continue;
          }
          if (n <= 0) {
            return; // unreadable now: the bounce returns the header alone
          }
          got += static_cast<std::size_t>(n);
        }
        *text = unstuffDots(stuffed);
      },
      [text, then = std::move(then)] { then(std::move(*text)); });
}

void Delivery::queueBounce(const std::vector<RecipientFailure>& perm, const std::string& reason,
                           std::string original, std::function<void(bool)> then) {
  const Address& sender = hmail_->mailFrom();
  BounceInput input;
  input.me = context_.me();
  input.sender = sender.address();
  input.original_headers = returnedHeaders();
  input.original_message = std::move(original);
  input.subject = returnedSubject();
  input.original_envelope_id =
      header_.todo.dsn_envid.empty() ? header_.todo.uuid : header_.todo.dsn_envid;
  if (header_.todo.queue_time > 0) {
    input.arrival_date = rfc5322Date(header_.todo.queue_time / 1000);
  }
  input.reason = reason;
  for (const auto& f : perm) {
    FailedRecipient r = reportedRecipient(f.address);
    r.status = permanentStatus(f.status);
    r.remote_mta = delivered_info_.host;
    r.diagnostic = f.diagnostic;
    input.recipients.push_back(std::move(r));
  }
  std::string dsn = buildBounce(context_.bounceTemplate(), input);
  Address null_sender;
  null_sender.is_null = true;
  null_sender.original = "<>";
  auto self = shared_from_this();
  context_.enqueueMessage(
      null_sender, {sender}, std::move(dsn), nlohmann::json::object(),
      [self, then = std::move(then)](Code code, const std::string& text) mutable {
        if (code == Code::Deny) {
          // A plugin's decision (pre_send_trans_email), as the bounce hook's would be.
          log::warn({self->logId(), ""}, "outbound: the bounce was refused: {}: not sent", text);
          then(true);
          return;
        }
        if (code != Code::Ok) {
          // The bounce exists nowhere but here: the original must stay to make it.
          log::error({self->logId(), ""},
                     "outbound: queueing the bounce failed: {}: {} stays queued to bounce later",
                     text, self->name_);
        }
        then(code == Code::Ok);
      });
}

FailedRecipient Delivery::reportedRecipient(const Address& address) const {
  FailedRecipient r;
  r.address = address.address();
  const RcptOptions options = hmail_->rcptOptions(address);
  if (!options.orcpt_type.empty()) {
    r.original_recipient = options.orcpt_type + ";" + options.orcpt_address;
  }
  return r;
}

void Delivery::notifySuccess(const std::vector<Address>& ok) {
  const Address& sender = hmail_->mailFrom();
  if (sender.is_null || (next_hop_dsn_ && !next_hop_lmtp_)) {
    return; // nobody to tell, or the next hop reports on its own (RFC 3461 6.2.2)
  }
  BounceInput input;
  for (const auto& address : ok) {
    if (!hmail_->rcptOptions(address).notify.wantsSuccess()) {
      continue;
    }
    FailedRecipient r = reportedRecipient(address);
    r.action = next_hop_lmtp_ ? "delivered" : "relayed";
    r.status = "2.0.0";
    r.remote_mta = delivered_info_.host;
    r.diagnostic = delivered_info_.response;
    input.recipients.push_back(std::move(r));
  }
  if (input.recipients.empty()) {
    return;
  }
  input.me = context_.me();
  input.sender = sender.address();
  input.original_headers = returnedHeaders();
  input.subject = returnedSubject();
  input.original_envelope_id =
      header_.todo.dsn_envid.empty() ? header_.todo.uuid : header_.todo.dsn_envid;
  if (header_.todo.queue_time > 0) {
    input.arrival_date = rfc5322Date(header_.todo.queue_time / 1000);
  }
  Address null_sender;
  null_sender.is_null = true;
  null_sender.original = "<>";
  log::info({logId(), ""}, "outbound: success notice for {} recipient(s) to {}",
            input.recipients.size(), sender.address());
  context_.enqueueMessage(
      null_sender, {sender}, buildSuccessNotice(input), nlohmann::json::object(),
      [id = logId()](Code code, const std::string& text) {
        if (code != Code::Ok) {
          log::warn({id, ""}, "outbound: the success notice was not queued: {}", text);
        }
      });
}

void Delivery::defer(std::vector<RecipientFailure> temp, bool whole_file, std::string reason) {
  std::uint32_t attempts = parsed_.attempts + 1;
  auto delay = context_.retries().delayForAttempt(attempts);
  if (!delay) {
    std::vector<RecipientFailure> perm;
    for (auto& f : temp) {
      perm.push_back({f.address, permanentStatus(f.status), f.diagnostic});
    }
    auto self = shared_from_this();
    std::string why = fmt::format("Too many failures ({})", reason);
    bounce(std::move(perm), why, true,
           [self, temp = std::move(temp), whole_file, reason](bool bounced) mutable {
             if (bounced) {
               self->removeFile(); // what was delivered is done; the rest has bounced
               return;
             }
             // Tried once more later, still at its last attempt: a failure then bounces again.
             log::info({self->logId(), ""}, "outbound: {} recipient(s) wait {} s for their bounce",
                       temp.size(), BounceRetryMs / 1000);
             self->requeue(std::move(temp), whole_file, self->parsed_.attempts,
                           epochMs() + BounceRetryMs);
           });
    return;
  }
  deferred_info_.delay_s = *delay;
  deferred_info_.error = reason;
  deferred_info_.mx = mx_;
  for (const auto& f : temp) {
    deferred_info_.fail_recips.push_back(f.address);
  }
  ++counts_.deferred;
  HookParams params;
  params.hmail = hmail_.get();
  params.deferred = &deferred_info_;
  auto self = shared_from_this();
  runHook(Hook::Deferred, params,
          [self, temp = std::move(temp), whole_file, attempts,
           reason](plugin::HookResult result) mutable {
            std::uint64_t delay_s = self->deferred_info_.delay_s;
            if (result.code == Code::DenySoft && !result.message.empty()) {
              if (const auto asked = parsePluginDelay(result.message)) {
                delay_s = *asked;
              } else {
                log::warn({self->logId(), result.plugin},
                          "outbound: the deferred hook's DENYSOFT \"{}\" is no number of seconds: "
                          "the schedule's {} s stands",
                          log::escaped(result.message[0]), delay_s);
              }
            } else if (result.code != Code::Cont && result.code != Code::DenySoft) {
              log::info({self->logId(), result.plugin}, "outbound: the deferred hook dropped it");
              self->removeFile();
              return;
            }
            log::info({self->logId(), ""}, "outbound: deferred {} recipient(s) for {} s: {}",
                      temp.size(), delay_s, reason);
            self->requeue(std::move(temp), whole_file, attempts,
                          epochMs() + static_cast<std::int64_t>(delay_s) * 1000);
          });
}

void Delivery::requeue(std::vector<RecipientFailure> left, bool whole_file, std::uint32_t attempts,
                       std::int64_t due) {
  std::string next_name = parsed_.retryName(due, attempts, ::getpid()).format();
  std::string dir = context_.config().queue_dir.string();
  auto self = shared_from_this();
  if (whole_file) {
    auto error = std::make_shared<std::string>();
    runOnThreadPool(
        context_.loop(),
        [dir, from = name_, next_name, error] {
          if (auto r = queue::renameQueueFile(dir, from, next_name); !r) {
            *error = r.error();
          }
        },
        [self, next_name, due, error] {
          if (!error->empty()) {
            log::error({self->logId(), ""}, "outbound: renaming for retry failed: {}", *error);
            self->finish(DeliveryOutcome::due(self->name_, epochMs() + FileErrorRetryMs));
            return;
          }
          self->finish(DeliveryOutcome::due(next_name, due));
        });
    return;
  }
  // Some recipients are done: the file is rewritten with the others alone.
  auto split = std::make_shared<Split>();
  split->name = name_;
  split->lock = std::move(lock_);
  split->message_offset = header_.message_offset;
  split->next_name = next_name;
  split->todo = header_.todo;
  split->todo.rcpt_to.clear();
  for (const auto& f : left) {
    auto json = queue::addressToJson(f.address);
    queue::setRcptOptions(json, hmail_->rcptOptions(f.address));
    json["dsn_status"] = f.status;
    json["dsn_smtp_response"] = f.diagnostic;
    split->todo.rcpt_to.push_back(json);
  }
  split->due_ms = due;
  auto written = std::make_shared<std::optional<Result<queue::Rewritten>>>();
  runOnThreadPool(
      context_.loop(), [dir, split, written] { *written = writeSplit(dir, *split); },
      [self, split, written] {
        const Result<queue::Rewritten>& result = **written;
        if (!result) {
          // Nothing on disk says who has the message: the original stays locked, out of the
          // schedule, until the split can be written.
          std::int64_t retry_ms =
              std::clamp<std::int64_t>(split->due_ms - epochMs(), MinSplitRetryMs, MaxSplitRetryMs);
          log::error({self->logId(), ""},
                     "outbound: splitting deferred recipients: {}: {} is held until they are "
                     "written (next try in {} s)",
                     result.error(), self->name_, retry_ms / 1000);
          self->finish(DeliveryOutcome::splitHeld(std::move(*split), retry_ms));
          return;
        }
        if (!result->warning.empty()) {
          log::error({self->logId(), ""}, "outbound: splitting deferred recipients: {}",
                     result->warning);
        }
        self->finish(DeliveryOutcome::due(result->name, split->due_ms));
      });
}

void Delivery::removeFile() {
  auto self = shared_from_this();
  std::string dir = context_.config().queue_dir.string();
  runOnThreadPool(
      context_.loop(),
      [dir, name = name_] {
        // Done with (delivered, bounced or taken over): a directory fsync per message would cost
        // more than the delivery; a crash that undoes the unlink means one more copy, not a loss.
        if (auto r = queue::removeQueueFile(dir, name, queue::RemoveSync::None); !r) {
          log::error({name, ""}, "outbound: removing {}: {}", name, r.error());
        }
      },
      [self] { self->finish(DeliveryOutcome::done()); });
}

void Delivery::finish(DeliveryOutcome outcome) {
  if (finished_) {
    return;
  }
  finished_ = true;
  lock_.release();
  if (client_) {
    if (client_->busy()) {
      // A message pipelined behind ours hears of it, to try again elsewhere.
      client_->fail("the delivery using the connection ended");
    } else {
      client_->close();
    }
    dropClient();
  }
  outcome.counts = counts_;
  outcome.domain = header_.todo.domain;
  outcome.attempt_seconds = attempt_seconds_;
  context_.deliveryDone(name_, std::move(outcome));
}

} // namespace upesi::outbound
