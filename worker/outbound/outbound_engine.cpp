#include "worker/outbound/outbound_engine.hpp"

#include "common/dns/resolver.hpp"
#include "common/log/logger.hpp"
#include "common/plugin/hook_runner.hpp"
#include "common/plugin/process_connection.hpp"
#include "common/queue/queue_file_name.hpp"
#include "common/queue/queue_writer.hpp"
#include "common/util/clock.hpp"
#include "common/util/text.hpp"
#include "worker/outbound/delivery.hpp"
#include "worker/outbound/outbound_metrics.hpp"
#include "worker/outbound/queue_scan.hpp"
#include "worker/outbound/queue_writer_job.hpp"
#include "worker/outbound/tls_policy.hpp"
#include "worker/smtp/transaction_impl.hpp"
#include "worker/smtp/uuid.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <unistd.h>
#include <utility>

namespace upesi::outbound {

namespace {

// A reference of our own to a client context, which a fetch under way keeps through a reload.
std::shared_ptr<SSL_CTX> shareContext(SSL_CTX* context) {
  if (context == nullptr) {
    return nullptr;
  }
  SSL_CTX_up_ref(context);
  return std::shared_ptr<SSL_CTX>(context, SSL_CTX_free);
}

// The timer wakes at least this often (pending splits are retried on it) and waits at least
// this little: a timer re-armed for 0 ms from its own callback runs again before libuv polls,
// and the loop would never see a socket or a signal.
constexpr std::int64_t MaxTimerWaitMs = 1000;
constexpr std::int64_t MinTimerWaitMs = 1;
// How often the queue gauges are brought up to date, at most.
constexpr std::int64_t QueueGaugesEveryMs = 1000;
// With files left out of the schedule, the directory is read again once the schedule is at
// most half full and one of them is due; but not sooner than this after the last read, so
// that a schedule that cannot take them in does not read a long queue over and over.
constexpr std::int64_t MinRereadGapMs = 1000;

// The arrival time a queue file's name begins with (queue_file_name.hpp); 0 if it has none.
std::int64_t arrivalMs(const std::string& name) {
  std::int64_t ms = 0;
  for (char c : name) {
    if (c < '0' || c > '9') {
      break;
    }
    ms = ms * 10 + (c - '0');
    if (ms > std::int64_t{1} << 50) {
      return 0; // no epoch milliseconds: a name of another form
    }
  }
  return ms;
}

struct ScanJob {
  uv_work_t req{};
  std::string dir;
  std::size_t keep = 0;
  std::shared_ptr<const FlushedNames> flushed;
  std::int64_t flush_at_ms = 0;
  QueueRead read;
  std::function<void(ScanJob&)> done;
};

} // namespace

// A message the server or a plugin made, on its way through pre_send_trans_email.
struct OutboundEngine::Submission {
  std::shared_ptr<smtp::TransactionImpl> txn;
  std::unique_ptr<plugin::ProcessConnection> connection; // what pre_send_trans_email receives
  std::shared_ptr<plugin::HookRunner> hook;
  SubmittedCallback done;
};

OutboundEngine::OutboundEngine(uv_loop_t* loop, dns::Resolver* resolver,
                               std::shared_ptr<const plugin::HookTable> hooks,
                               EngineSettings settings)
    : loop_(loop),
      mx_resolver_([resolver](const std::string& name, DnsType type, DnsCallback done) {
        if (resolver == nullptr) {
          return done(DnsResult{DnsStatus::Error, "no resolver", {}});
        }
        resolver->query(name, type, std::move(done));
      }),
      hooks_(std::move(hooks)), settings_(std::move(settings)),
      index_(settings_.config.scheduled_max), pool_(loop),
      slots_(settings_.config.destination_concurrency_max),
      splits_(loop, settings_.config.queue_dir.string(),
              [this](const std::string& name, std::int64_t due_ms) {
                schedule(name, due_ms);
                pump();
              }) {
  pool_.setLimits(
      std::chrono::seconds(settings_.config.pool_timeout_s), settings_.config.pool_concurrency_max,
      std::chrono::seconds(settings_.config.pool_linger_s), settings_.config.concurrency_max);
  timer_.open(loop_, uv_timer_init, this);
  if (resolver != nullptr) {
    MtaStsPolicies::Options sts;
    sts.cache_dir = settings_.mta_sts_dir;
    sts.fetch.tls = shareContext(settings_.tls ? settings_.tls->context() : nullptr);
    mta_sts_ = std::make_unique<MtaStsPolicies>(
        loop_, std::move(sts), [resolver](const std::string& name, DnsType type, DnsCallback done) {
          resolver->query(name, type, std::move(done));
        });
  }
  if (!settings_.tls_rpt_dir.empty()) {
    tls_reports_ = std::make_unique<TlsReportLog>(loop_, settings_.tls_rpt_dir);
    tls_report_timer_ = std::make_unique<LoopTimer>(loop_);
    if (resolver != nullptr) {
      tls_report_sender_ = std::make_unique<TlsReportSender>(
          loop_, settings_.tls_rpt_dir,
          [resolver](const std::string& name, DnsType type, DnsCallback done) {
            resolver->query(name, type, std::move(done));
          },
          [this](const Address& from, const std::vector<Address>& to, std::string message,
                 std::function<void(bool)> done) {
            enqueueMessage(from, to, std::move(message), nlohmann::json::object(),
                           [done = std::move(done)](Code code, const std::string& text) {
                             if (code != Code::Ok) {
                               log::warn({}, "TLS report not queued: {}", text);
                             }
                             done(code == Code::Ok);
                           });
          },
          TlsReportSender::Identity{settings_.me, settings_.tls_rpt_from});
    }
  }
  if (mta_sts_ && tls_reports_) {
    mta_sts_->onFetchFailed(
        [this](const std::string& domain, bool invalid, const std::string& why) {
          const auto type = invalid ? tls_rpt::ResultType::StsPolicyInvalid
                                    : tls_rpt::ResultType::StsPolicyFetchError;
          countTlsPolicySession("mta-sts", tls_rpt::toString(type));
          tls_reports_->failure(domain, tls_rpt::PolicyInfo{tls_rpt::PolicyType::Sts, {}, {}},
                                tls_rpt::Failure{type, "", "", "", why});
        });
  }
  if (resolver != nullptr && resolver->validating()) {
    authenticated_lookup_ = [resolver](const std::string& name, unsigned type,
                                       dns::Resolver::RawCallback done) {
      resolver->queryAuthenticated(name, type, std::move(done));
    };
  }
}

OutboundEngine::~OutboundEngine() {
  *alive_ = false;
  for (auto& [id, submission] : submissions_) {
    if (submission->hook) {
      submission->hook->cancel();
    }
  }
  submissions_.clear();
  deliveries_.clear();
  awaiting_turn_.clear();
  pool_.closeAll();
}

void OutboundEngine::start() {
  std::error_code ec;
  std::filesystem::create_directories(settings_.config.queue_dir, ec);
  running_ = true;
  scan();
  if (tls_reports_) {
    tlsReportTick(false);
  }
}

void OutboundEngine::stop() {
  running_ = false;
  uv_timer_stop(timer_.get());
  pool_.stopKeeping();
  if (tls_reports_) {
    tls_report_timer_->stop();
    tls_reports_->flush(); // what this process counted, before it goes
  }
}

void OutboundEngine::tlsReportTick(bool send_now) {
  const std::string today = TlsReportLog::dayOf(epochMs());
  const bool send = tls_report_sender_ && (send_now || tls_reports_sent_for_ != today);
  tls_reports_->flush([this, alive = alive_, send, today] {
    if (!*alive || !send) {
      return;
    }
    tls_reports_sent_for_ = today;
    tls_report_sender_->sendDue(today);
  });
  tls_report_timer_->start(60'000, [this] { tlsReportTick(false); });
}

void OutboundEngine::flush() {
  if (tls_reports_) {
    tlsReportTick(true); // and the reports of days gone by, if any wait
  }
  std::int64_t now = epochMs();
  std::size_t n = index_.makeAllDue(now);
  log::notice({}, "outbound: flushing {} deferred message(s){}", n,
              index_.leftOut() > 0
                  ? fmt::format(", and about {} more from the queue directory", index_.leftOut())
                  : std::string());
  // A delivery in flight may have failed already, its deferral not yet written: due now too.
  for (const auto& [name, delivery] : deliveries_) {
    flushed_in_flight_.insert(name);
  }
  // And the split files that could not be written before.
  splits_.flush(now);
  // So are the files other workers deferred, and those the schedule has no room for: look at
  // the directory again.
  flush_scan_ = true;
  next_scan_ms_ = 0;
  scan();
}

void OutboundEngine::updateSettings(EngineSettings settings) {
  settings.config.queue_dir = settings_.config.queue_dir;
  bool was_disabled = settings_.config.disabled;
  settings_ = std::move(settings);
  if (mta_sts_) {
    mta_sts_->setTlsContext(shareContext(settings_.tls ? settings_.tls->context() : nullptr));
  }
  index_.setCapacity(settings_.config.scheduled_max);
  pool_.setLimits(
      std::chrono::seconds(settings_.config.pool_timeout_s), settings_.config.pool_concurrency_max,
      std::chrono::seconds(settings_.config.pool_linger_s), settings_.config.concurrency_max);
  for (const auto& name : slots_.setLimit(settings_.config.destination_concurrency_max)) {
    schedule(name, epochMs());
  }
  if (was_disabled != settings_.config.disabled) {
    log::notice({}, "outbound: deliveries {}", settings_.config.disabled ? "paused" : "resumed");
  }
  pump();
}

void OutboundEngine::schedule(const std::string& name, std::int64_t due_ms,
                              const std::string& destination) {
  if (deliveries_.count(name) != 0 || slots_.isWaiting(name) || splits_.holds(name)) {
    return; // in flight, due and waiting for its destination, or kept until its split is written
  }
  if (auto held = delayed_.find(name); held != delayed_.end()) {
    if (held->second > epochMs()) {
      due_ms = std::max(due_ms, held->second);
    } else {
      delayed_.erase(held);
    }
  }
  index_.schedule(name, due_ms, destination);
  for (const auto& trimmed : index_.trimTo(scheduleRoom())) {
    priorities_.erase(trimmed);
  }
}

std::size_t OutboundEngine::scheduleRoom() const {
  // Files waiting for a destination slot count against the schedule; the schedule keeps room
  // for concurrency_max more whatever they are, so that new mail to other destinations moves.
  const std::size_t capacity = index_.capacity();
  const std::size_t waiting = slots_.waiting();
  return std::max<std::size_t>(capacity > waiting ? capacity - waiting : 0,
                               settings_.config.concurrency_max);
}

std::int64_t OutboundEngine::nextReadMs() const {
  if (flush_scan_) {
    return 0;
  }
  if (index_.leftOut() == 0) {
    return next_scan_ms_;
  }
  // Files are left out: a read is worth its cost only when the schedule has room for them.
  if (index_.size() + slots_.waiting() > index_.capacity() / 2) {
    return QueueIndex::Never;
  }
  return std::min(next_scan_ms_, std::max(index_.leftOutDue(), reread_not_before_ms_));
}

void OutboundEngine::scan() {
  if (scanning_) {
    return;
  }
  scanning_ = true;
  auto* job = new ScanJob{};
  job->dir = settings_.config.queue_dir.string();
  job->keep = index_.capacity();
  job->flushed = flushed_;
  if (std::exchange(flush_scan_, false)) {
    job->flush_at_ms = epochMs();
  }
  job->req.data = job;
  std::weak_ptr<bool> alive = alive_;
  job->done = [this, alive](ScanJob& j) {
    if (alive.expired()) {
      return;
    }
    scanned(j.read);
  };
  uv_queue_work(
      loop_, &job->req,
      [](uv_work_t* req) {
        auto* j = static_cast<ScanJob*>(req->data);
        j->read = readQueueDirectory(j->dir, j->keep, j->flushed, j->flush_at_ms);
      },
      [](uv_work_t* req, int) {
        std::unique_ptr<ScanJob> j(static_cast<ScanJob*>(req->data));
        j->done(*j);
      });
}

void OutboundEngine::scanned(QueueRead& read) {
  scanning_ = false;
  const std::int64_t now = epochMs();
  next_scan_ms_ = now + std::int64_t{settings_.config.scan_interval_s} * 1000;
  reread_not_before_ms_ = now + MinRereadGapMs;
  if (!read.error.empty()) {
    log::error({}, "outbound: reading {}: {}", settings_.config.queue_dir.string(), read.error);
    pump();
    return;
  }
  if (read.flushed) {
    flushed_ = std::move(read.flushed); // until every file it names has been taken in
  }
  for (const auto& [name, due] : read.files) {
    schedule(name, due);
  }
  index_.directoryRead(read.left_out, read.left_out_due);
  for (const auto& trimmed : index_.trimTo(scheduleRoom())) {
    priorities_.erase(trimmed);
  }
  if (index_.leftOut() == 0) {
    flushed_.reset();
  }
  if (index_.leftOut() > 0 && !left_out_logged_) {
    log::notice({},
                "outbound: {} queue files, {} of them scheduled here; the others are read in "
                "as room opens (outbound.ini scheduled_max={})",
                read.total, index_.size(), index_.capacity());
  }
  left_out_logged_ = index_.leftOut() > 0;
  disk_oldest_arrival_ms_ = read.oldest_arrival_ms;
  if (flush_scan_) {
    next_scan_ms_ = 0; // a flush came during the read
  }
  pump();
}

void OutboundEngine::pump() {
  if (!running_) {
    return;
  }
  std::int64_t now = epochMs();
  while (roomForDelivery()) {
    auto name = index_.takeDue(now, priorities_);
    if (!name) {
      break;
    }
    auto delivery = std::make_shared<Delivery>(static_cast<DeliveryContext&>(*this), *name);
    deliveries_[*name] = delivery;
    delivery->start();
  }
  if (now >= next_gauges_ms_) {
    updateQueueGauges(now);
  }
  armTimer();
}

void OutboundEngine::updateQueueGauges(std::int64_t now_ms) {
  next_gauges_ms_ = now_ms + QueueGaugesEveryMs;
  std::int64_t oldest = 0;
  auto olderArrival = [&oldest](std::int64_t arrival) {
    if (arrival > 0 && (oldest == 0 || arrival < oldest)) {
      oldest = arrival;
    }
  };
  auto older = [&olderArrival](const std::string& name) { olderArrival(arrivalMs(name)); };
  index_.forEach(older);
  if (index_.leftOut() > 0) {
    olderArrival(disk_oldest_arrival_ms_);
  }
  for (const auto& [name, delivery] : deliveries_) {
    older(name);
  }
  slots_.forEachWaiting(older);
  metrics_.queue(stats(), oldest, now_ms);
}

void OutboundEngine::armTimer() {
  if (!running_) {
    return;
  }
  std::int64_t now = epochMs();
  std::int64_t next = now + MaxTimerWaitMs;
  if (!scanning_) {
    next = std::min(next, nextReadMs());
  }
  if (roomForDelivery()) {
    next = std::min(next, index_.earliest());
  }
  auto wait = static_cast<std::uint64_t>(std::max(next - now, MinTimerWaitMs));
  uv_timer_start(timer_.get(), onTimer, wait, 0);
}

void OutboundEngine::onTimer(uv_timer_t* timer) {
  auto* self = static_cast<OutboundEngine*>(timer->data);
  if (self == nullptr) {
    return;
  }
  if (!self->scanning_ && epochMs() >= self->nextReadMs()) {
    self->scan();
  }
  self->splits_.retry(epochMs());
  self->pump();
}

bool OutboundEngine::admit(const std::string& name, const std::string& domain) {
  const std::string destination = text::toLower(domain);
  if (slots_.acquire(name, destination)) {
    return true;
  }
  log::debug({name, ""},
             "outbound: {} deliveries to {} in flight (destination_concurrency_max): {} waits",
             slots_.inFlight(destination), destination, name);
  return false;
}

void OutboundEngine::messageSent(const std::string& name) {
  if (auto next = slots_.release(name)) {
    schedule(*next, epochMs()); // the slot it waited for is its own now
    pump();
  }
}

bool OutboundEngine::roomForDelivery() const {
  return !settings_.config.disabled &&
         deliveries_.size() - awaiting_turn_.size() < settings_.config.concurrency_max;
}

void OutboundEngine::awaitingTurn(const std::string& name, bool waiting) {
  if (waiting) {
    awaiting_turn_.insert(name);
    pump(); // its place goes to the next due file
  } else {
    awaiting_turn_.erase(name);
  }
}

void OutboundEngine::deliveryDone(const std::string& name, DeliveryOutcome outcome) {
  awaiting_turn_.erase(name);
  index_.finished(name);
  metrics_.deliveryEnded(outcome);
  counters_.delivered += outcome.counts.delivered;
  counters_.deferrals += outcome.counts.deferred;
  counters_.bounced += outcome.counts.bounced;
  switch (outcome.file) {
  case DeliveryOutcome::File::Delayed:
    delayed_[outcome.name] = outcome.due_ms;
    break;
  case DeliveryOutcome::File::SplitHeld:
    splits_.add(std::move(*outcome.split), epochMs(), outcome.retry_ms);
    break;
  case DeliveryOutcome::File::Done:
  case DeliveryOutcome::File::Due:
    break;
  }
  const std::string next_name = outcome.schedules() ? outcome.name : std::string();
  std::int64_t due_ms = outcome.due_ms;
  // The Delivery may be the caller: keep it alive until this turn ends.
  auto it = deliveries_.find(name);
  if (it != deliveries_.end()) {
    releaseLater(std::move(it->second));
    deliveries_.erase(it);
  }
  if (auto next = slots_.release(name)) {
    schedule(*next, epochMs()); // the slot it waited for is its own now
  }
  if (flushed_in_flight_.erase(name) != 0) {
    due_ms = std::min(due_ms, epochMs());
  }
  if (auto priority = priorities_.extract(name); !priority.empty() && !next_name.empty()) {
    priority.key() = next_name; // a retry keeps its priority
    priorities_.insert(std::move(priority));
  }
  if (!next_name.empty()) {
    schedule(next_name, due_ms, text::toLower(outcome.domain));
  }
  pump();
}

OutboundStats OutboundEngine::stats() const {
  OutboundStats out = counters_;
  const std::size_t due = index_.dueBy(epochMs());
  out.in_flight = deliveries_.size();
  out.waiting = due + slots_.waiting();
  // Those left out of the schedule are counted as deferred: most of a long queue is.
  out.deferred = index_.size() - due + index_.leftOut();
  out.queued = out.in_flight + out.waiting + out.deferred + splits_.size();
  return out;
}

void OutboundEngine::releaseLater(std::shared_ptr<void> owned) {
  released_.push_back(std::move(owned));
  if (!releaser_) {
    releaser_.open(loop_, uv_idle_init, this);
  }
  // An idle handle runs on the next loop turn and keeps its poll from blocking meanwhile.
  uv_idle_start(releaser_.get(), [](uv_idle_t* idle) {
    uv_idle_stop(idle);
    if (auto* self = static_cast<OutboundEngine*>(idle->data); self != nullptr) {
      auto released = std::move(self->released_); // their destructors may release more
      self->released_.clear();
    }
  });
}

void OutboundEngine::addMissingIdentity(Transaction& txn) const {
  std::string message_id = fmt::format("<{}@{}>", txn.uuid(), settings_.me);
  auto ids = txn.headers("Message-Id");
  if (ids.empty()) {
    txn.addHeader("Message-Id", message_id);
  } else if (ids.front() == "<>") {
    txn.removeHeader("Message-Id");
    txn.addHeader("Message-Id", message_id);
  }
  if (txn.headers("Date").empty()) {
    txn.addHeader("Date", rfc5322Now());
  }
}

void OutboundEngine::prepareHeaders(Transaction& txn) const {
  addMissingIdentity(txn);
  const std::string& received = settings_.config.received_header;
  if (!received.empty() && received != "disabled") {
    txn.addLeadingHeader("Received", fmt::format("({}); {}", received, rfc5322Now()));
  }
}

void OutboundEngine::enqueue(std::shared_ptr<Transaction> txn,
                             std::function<void(Result<std::string>)> done) {
  auto files = planQueueFiles(*txn, settings_.config, settings_.hostname);
  std::string uuid = txn->uuid();
  std::weak_ptr<bool> alive = alive_;
  writeQueueFiles(loop_, std::move(txn), std::move(files), settings_.config.queue_dir.string(),
                  [this, alive, uuid, done = std::move(done)](auto result) {
                    if (!result) {
                      log::error({uuid, ""}, "outbound: queueing failed: {}", result.error());
                      done(Error{result.error()});
                      return;
                    }
                    if (!alive.expired()) {
                      queued(*result);
                    }
                    done(fmt::format("Message Queued ({})", uuid));
                  });
}

void OutboundEngine::enqueueMessage(const Address& from, const std::vector<Address>& to,
                                    std::string message, nlohmann::json notes,
                                    QueuedCallback done) {
  submitMessage(from, to, std::move(message), std::move(notes),
                [done = std::move(done)](Code code, const std::string& text,
                                         const std::vector<std::string>&) { done(code, text); });
}

void OutboundEngine::submitMessage(const Address& from, const std::vector<Address>& to,
                                   std::string message, nlohmann::json notes,
                                   SubmittedCallback done) {
  if (to.empty()) {
    done(Code::Deny, "No recipients for email", {});
    return;
  }
  auto txn = std::make_shared<smtp::TransactionImpl>(smtp::newUuid(), from, EsmtpParams{},
                                                     smtp::MessageStreamOptions{});
  txn->rcptTo() = to;
  if (notes.is_object()) {
    txn->notes() = std::move(notes);
  }
  txn->setDataBytes(message.size());
  // In memory (no spool file): neither can fail.
  (void)txn->message().append(message);
  (void)txn->message().finish();
  prepareHeaders(*txn);

  auto submission = std::make_shared<Submission>();
  submission->txn = txn;
  submission->connection = std::make_unique<plugin::ProcessConnection>(txn->uuid(), txn);
  submission->done = std::move(done);
  std::uint64_t id = next_submission_++;
  submissions_[id] = submission;
  // Haraka runs pre_send_trans_email for every message entering the queue: DKIM signing
  // plugins sign bounces and plugin-made mail there too.
  auto hook = plugin::HookRunner::run(
      loop_, *hooks_, Hook::PreSendTransEmail, *submission->connection, HookParams{}, txn->uuid(),
      [this, id](plugin::HookResult result) {
        auto it = submissions_.find(id);
        if (it == submissions_.end()) {
          return;
        }
        auto pending = std::move(it->second);
        submissions_.erase(it);
        releaseLater(pending); // its hook runner is the caller
        if (isDeny(result.code)) {
          bool hard = result.code == Code::Deny || result.code == Code::DenyDisconnect;
          std::string text = result.message.empty() ? "Message denied by pre_send_trans_email"
                                                    : result.message.front();
          log::info({pending->txn->uuid(), result.plugin},
                    "outbound: pre_send_trans_email answered {}: not queued: {}",
                    toString(result.code), text);
          pending->done(hard ? Code::Deny : Code::DenySoft, text, {});
          return;
        }
        writeMessage(std::move(pending));
      });
  submission->hook = std::move(hook);
}

void OutboundEngine::queued(const std::vector<QueuedFile>& files) {
  for (const auto& file : files) {
    log::info({file.todo.uuid, ""}, "outbound: queued {} for {}", file.name, file.todo.domain);
    if (file.todo.mt_priority && *file.todo.mt_priority != 0) {
      priorities_[file.name] = *file.todo.mt_priority;
    }
    schedule(file.name, epochMs(), text::toLower(file.todo.domain));
  }
  pump();
}

void OutboundEngine::writeMessage(std::shared_ptr<Submission> submission) {
  auto files = planQueueFiles(*submission->txn, settings_.config, settings_.hostname);
  std::weak_ptr<bool> alive = alive_;
  std::string uuid = submission->txn->uuid();
  auto done = std::move(submission->done);
  writeQueueFiles(loop_, submission->txn, std::move(files), settings_.config.queue_dir.string(),
                  [this, alive, uuid, done = std::move(done)](auto result) {
                    if (!result) {
                      log::error({uuid, ""}, "outbound: queueing failed: {}", result.error());
                      done(Code::DenySoft, result.error(), {});
                      return;
                    }
                    if (!alive.expired()) {
                      queued(*result);
                    }
                    // Called from the thread pool's after-work: every file is written, fsynced,
                    // renamed and its directory fsynced (writeQueueFile) — the message is
                    // durable, so a caller may say so.
                    std::vector<std::string> names;
                    for (const auto& file : *result) {
                      names.push_back(file.name);
                    }
                    done(Code::Ok, fmt::format("Message Queued ({})", uuid), names);
                  });
}

std::optional<dns::MxHost> OutboundEngine::localNextHop(const std::string& domain) const {
  const auto& domains = settings_.local_domains;
  if (std::find(domains.begin(), domains.end(), domain) == domains.end()) {
    return std::nullopt;
  }
  return settings_.local_next_hop;
}

} // namespace upesi::outbound
