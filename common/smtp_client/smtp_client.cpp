// SmtpClient: the conversation is driven by a queue of the replies we wait for, in the order
// the commands went out; a pipelined group simply puts several there at once. Every entry
// point from libuv (connect, read, write, timer, a late MessageSource read) ends with
// deliver(), which calls the finished operation's callback last, so a callback may start the
// next operation, or destroy the client, without anything running after it.
//
// With TLS, the socket carries ciphertext: what is read goes to the TlsStream, whose plaintext
// goes to the reply parser; what we say goes through the TlsStream, whose ciphertext goes to
// the socket. The TlsStream's callbacks can come from the thread pool's completion, an entry
// point of their own, so they end with deliverSoon().
#include "common/smtp_client/smtp_client.hpp"

#include "common/log/logger.hpp"
#include "common/net/transport.hpp"
#include "common/smtp/envelope_params.hpp"
#include "common/tls/handshake_metrics.hpp"
#include "common/tls/tls_stream.hpp"
#include "common/util/ascii.hpp"
#include "common/util/loop_timer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cassert>
#include <cctype>
#include <cstring>
#include <deque>

namespace upesi::smtp_client {

const char* toString(TlsMode mode) {
  switch (mode) {
  case TlsMode::Off:
    return "off";
  case TlsMode::Opportunistic:
    return "opportunistic";
  case TlsMode::Required:
    return "required";
  case TlsMode::Implicit:
    return "implicit";
  }
  return "?";
}

namespace {

// The reply a command waits for.
enum class Await {
  Greeting,
  Ehlo,
  Helo,
  StartTls,
  Auth,
  Mail,
  Rcpt,
  Data,
  Final,
  LmtpFinal,
  Rset,
  TxnRset,
  Quit
};

// How long we wait for each, and how a timeout or a lost connection names the wait.
struct AwaitedReply {
  Await what;
  std::chrono::milliseconds Timeouts::*timeout;
  const char* waiting_for;
  const char* lmtp_waiting_for; // where LMTP says it otherwise; null: the same
};

constexpr AwaitedReply awaited_replies[] = {
    {Await::Greeting, &Timeouts::greeting, "waiting for greeting", nullptr},
    {Await::Ehlo, &Timeouts::command, "waiting for reply to EHLO", "waiting for reply to LHLO"},
    {Await::Helo, &Timeouts::command, "waiting for reply to HELO", nullptr},
    {Await::StartTls, &Timeouts::command, "waiting for reply to STARTTLS", nullptr},
    {Await::Auth, &Timeouts::command, "waiting for reply to AUTH", nullptr},
    {Await::Mail, &Timeouts::command, "waiting for reply to MAIL FROM", nullptr},
    {Await::Rcpt, &Timeouts::command, "waiting for reply to RCPT TO", nullptr},
    {Await::Data, &Timeouts::data, "waiting for reply to DATA", nullptr},
    {Await::Final, &Timeouts::final_dot, "waiting for reply to end of data", nullptr},
    {Await::LmtpFinal, &Timeouts::final_dot, "waiting for reply to end of data", nullptr},
    {Await::Rset, &Timeouts::command, "waiting for reply to RSET", nullptr},
    {Await::TxnRset, &Timeouts::command, "waiting for reply to RSET", nullptr},
    {Await::Quit, &Timeouts::command, "waiting for reply to QUIT", nullptr},
};

constexpr bool everyAwaitInOrder() {
  std::size_t i = 0;
  for (const auto& entry : awaited_replies) {
    if (static_cast<std::size_t>(entry.what) != i++) {
      return false;
    }
  }
  return i == static_cast<std::size_t>(Await::Quit) + 1;
}
static_assert(everyAwaitInOrder(), "awaited_replies: one entry per Await, in the enum's order");

const AwaitedReply& awaitedReply(Await what) {
  return awaited_replies[static_cast<std::size_t>(what)];
}

bool safeOnTheWire(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string connectError(int status) {
  switch (status) {
  case UV_ECONNREFUSED:
    return "connection refused";
  case UV_ETIMEDOUT:
    return "timeout connecting";
  case UV_ENETUNREACH:
    return "network unreachable";
  case UV_EHOSTUNREACH:
    return "host unreachable";
  case UV_EADDRNOTAVAIL:
    return "address not available";
  default:
    return fmt::format("connect failed: {}", uv_strerror(status));
  }
}

} // namespace

// ------------------------------------------------------------------------------------- Impl

struct SmtpClient::Impl : std::enable_shared_from_this<SmtpClient::Impl>, net::TransportOwner {
  enum class Phase { Idle, Connecting, Handshake, Greeting, Hello, Ready, Busy, Quitting, Closed };

  struct Expect {
    Await what;
    std::size_t index = 0; // Rcpt: the recipient; LmtpFinal: the accepted recipient
  };

  struct Transaction {
    Envelope envelope;
    std::shared_ptr<MessageSource> source;
    SendDone done;
    std::function<void()> sent; // the final dot has gone out
    bool body_sent = false;
    bool pipelined = false;
    bool behind_dot = false; // sent with the previous message's final dot, before its reply
    TransactionReplies replies;
    std::size_t rcpt_sent = 0;
  };

  Impl(uv_loop_t* loop, ClientOptions options)
      : loop_(loop), options_(std::move(options)), timer_(loop), parser_(options_.reply_limits) {
    remote_ = {options_.host, options_.ip, options_.port};
    transport_ = std::make_unique<net::Transport>(loop_, *this, net::Transport::Options{});
    const int rc = uv_timer_init(loop_, &defer_timer_);
    assert(rc == 0);
    (void)rc;
    defer_timer_.data = this;
  }
  virtual ~Impl() = default; // a TransportOwner

  // ------------------------------------------------------------------------------ lifetime

  /// The SmtpClient is gone: no callback from now on. The memory goes in the last close
  /// callback of the socket and the defer timer, a later loop turn: never under a caller that
  /// is still in one of this object's functions.
  void abandon() {
    abandoned_ = true;
    dropCallbacks();
    closeConnection(false);
    timer_.close(); // now, not with this object: that may be after the loop's final walk
    uv_timer_stop(&defer_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&defer_timer_),
             [](uv_handle_t* handle) { static_cast<Impl*>(handle->data)->handleClosed(); });
  }

  void transportClosed() override { handleClosed(); }

  void handleClosed() {
    if (--open_handles_ == 0) {
      auto last = std::move(self_); // frees this at the end of the scope
    }
  }

  void dropCallbacks() {
    pending_.clear();
    connect_done_ = nullptr;
    reset_done_ = nullptr;
    quit_done_ = nullptr;
    if (txn_) {
      txn_->done = nullptr;
    }
    txn_.reset();
    next_.reset();
    body_active_ = false;
  }

  /// Closes the socket (once). `polite`: say QUIT first if it can go out right now.
  void closeConnection(bool polite) {
    if (tcp_closing_) {
      return;
    }
    // A QUIT (and close_notify) if the socket takes them at once, never mid-handshake: the
    // transport checks that.
    const bool say_quit = polite && connected_ && out_.empty();
    tcp_closing_ = true;
    phase_ = Phase::Closed;
    body_active_ = false;
    expect_.clear();
    timer_.stop();
    out_.clear();
    transport_->close(say_quit ? "QUIT\r\n" : "");
  }

  /// Calls the finished operations' callbacks. The last thing every entry point does.
  void deliver() {
    while (!abandoned_ && !pending_.empty()) {
      auto callback = std::move(pending_.front());
      pending_.pop_front();
      callback(); // may start another operation, close, or destroy the SmtpClient
    }
    if (abandoned_) {
      pending_.clear();
    }
  }

  /// For results decided inside a call: delivered from the loop, not from the caller's stack.
  void deliverSoon() {
    if (!abandoned_) {
      uv_timer_start(
          &defer_timer_, [](uv_timer_t* timer) { static_cast<Impl*>(timer->data)->deliver(); }, 0,
          0);
    }
  }

  bool ready() const {
    return phase_ == Phase::Ready && usable_ && !tcp_closing_ && pending_.empty();
  }

  /// RFC 2920 3.1: the message content may begin a group of pipelined commands, so once a
  /// message's final dot is out, the next message's MAIL, RCPT and DATA may follow it without
  /// waiting for its reply. Not for LMTP, whose replies to the dot come one per recipient.
  bool acceptsAnother() const {
    return phase_ == Phase::Busy && txn_ && txn_->body_sent && !next_ && !body_active_ &&
           caps_.pipelining && options_.use_pipelining && options_.pipeline_messages &&
           !behind_dot_refused_ && !options_.lmtp && usable_ && !tcp_closing_ && !abandoned_;
  }

  // ------------------------------------------------------------------------------- connect

  void connect(ConnectDone done) {
    if (phase_ != Phase::Idle) {
      pending_.push_back([done = std::move(done)] {
        done(Status::temporary("connect called on a client that already connected"));
      });
      deliverSoon();
      return;
    }
    connect_done_ = std::move(done);
    bool tls_needed =
        options_.tls.mode == TlsMode::Required || options_.tls.mode == TlsMode::Implicit;
    if (tls_needed && options_.tls.context == nullptr) {
      failConnectSoon(
          fmt::format("TLS is {} but there is no TLS context", toString(options_.tls.mode)));
      return;
    }
    sockaddr_storage addr{};
    if (auto error = parseIp(options_.ip, options_.port, addr); !error.empty()) {
      failConnectSoon(error);
      return;
    }
    if (!options_.local_ip.empty()) {
      sockaddr_storage local{};
      if (auto error = parseIp(options_.local_ip, 0, local); !error.empty()) {
        failConnectSoon(error);
        return;
      }
      if (int rc = transport_->bind(reinterpret_cast<const sockaddr*>(&local)); rc < 0) {
        failConnectSoon(fmt::format("cannot bind to {}: {}", options_.local_ip, uv_strerror(rc)));
        return;
      }
    }
    if (int rc = transport_->connect(reinterpret_cast<const sockaddr*>(&addr)); rc < 0) {
      failConnectSoon(connectError(rc));
      return;
    }
    phase_ = Phase::Connecting;
    timer_.start(timeoutMs(options_.timeouts.connect), [this] { onTimeout(); });
    log::debug({options_.log_id, ""}, "connecting to {} port {}", describeRemote(), options_.port);
  }

  static std::string parseIp(const std::string& ip, std::uint16_t port, sockaddr_storage& out) {
    if (ip.find(':') != std::string::npos) {
      if (uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(&out)) == 0) {
        return {};
      }
    } else if (uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(&out)) == 0) {
      return {};
    }
    return fmt::format("invalid IP address \"{}\"", ip);
  }

  void failConnectSoon(std::string reason) {
    phase_ = Phase::Closed;
    finishConnect(Status::temporary(std::move(reason)));
    closeConnection(false);
    deliverSoon();
  }

  void transportConnected(int status) override {
    if (phase_ != Phase::Connecting) {
      return;
    }
    if (status < 0) {
      abort(Status::temporary(connectError(status)));
    } else {
      connected_ = true; // reading has started, without Nagle
      if (options_.tls.mode == TlsMode::Implicit) {
        startTls(); // the greeting comes inside TLS
      } else {
        phase_ = Phase::Greeting;
        expect_.push_back({Await::Greeting});
      }
      armTimer();
    }
    deliver();
  }

  void finishConnect(Status status) {
    if (status.ok()) {
      phase_ = Phase::Ready;
    }
    if (connect_done_) {
      pending_.push_back(
          [status = std::move(status), done = std::move(connect_done_)] { done(status); });
      connect_done_ = nullptr;
    }
  }

  void sayHello(Await verb) {
    const char* word = verb == Await::Helo ? "HELO" : options_.lmtp ? "LHLO" : "EHLO";
    phase_ = Phase::Hello;
    command(fmt::format("{} {}", word, options_.helo));
    expect_.push_back({verb});
    flush();
  }

  void helloReply(Await what, const ServerReply& reply) {
    if (reply.positive()) {
      if (what == Await::Ehlo) {
        caps_ = parseCapabilities(reply);
      }
      afterHello();
      return;
    }
    if (what == Await::Ehlo && reply.permanent() && !options_.lmtp) {
      sayHello(Await::Helo); // an old server: RFC 5321 §3.2
      return;
    }
    finishConnect(Status::fromReply(reply));
    closeConnection(true);
  }

  /// After EHLO/HELO/LHLO: STARTTLS, then AUTH, as asked and offered; then ready.
  void afterHello() {
    if (wantsStartTls()) {
      if (caps_.starttls) {
        command("STARTTLS");
        expect_.push_back({Await::StartTls});
        flush();
        return;
      }
      if (options_.tls.mode == TlsMode::Required) {
        security_.failure = TlsFailure::StarttlsMissing;
        abort({Outcome::Temporary, 0, "4.7.4",
               fmt::format("TLS is required, but {} does not offer STARTTLS", describeRemote())},
              true);
        return;
      }
    }
    if (!options_.auth.user.empty() && !security_.auth && !auth_skipped_) {
      startAuth();
      return;
    }
    finishConnect(Status{Outcome::Ok, greeting_.code, greeting_.enhanced, greeting_.describe()});
  }

  // ------------------------------------------------------------------------------------ TLS

  bool wantsStartTls() const {
    return transport_->tls() == nullptr && !starttls_refused_ && options_.tls.context != nullptr &&
           (options_.tls.mode == TlsMode::Opportunistic || options_.tls.mode == TlsMode::Required);
  }

  /// The name for SNI and for the certificate.
  const std::string& tlsName() const {
    return !options_.tls.name.empty() ? options_.tls.name
           : !options_.host.empty()   ? options_.host
                                      : options_.ip;
  }

  void startTlsReply(const ServerReply& reply) {
    if (reply.code == 220) {
      startTls();
      return;
    }
    if (options_.tls.mode == TlsMode::Required) {
      Status status = Status::fromReply(reply);
      status.outcome = Outcome::Temporary;
      status.enhanced = "4.7.4";
      status.reason = "TLS is required, but STARTTLS was refused: " + status.reason;
      security_.failure = TlsFailure::StarttlsMissing;
      abort(std::move(status), true);
      return;
    }
    // RFC 3207 §4: the session goes on as it was, in clear.
    log::info({options_.log_id, ""}, "{}: STARTTLS refused ({}): going on without TLS",
              describeRemote(), reply.describe());
    starttls_refused_ = true;
    afterHello();
  }

  void startTls() {
    // Whatever was read in clear is forgotten: RFC 3207 §4.2 (replies injected after the 220).
    parser_ = ReplyParser(options_.reply_limits);
    ++transport_generation_;
    phase_ = Phase::Handshake;
    auto channel = tls::TlsChannel::client(options_.tls.context, tlsName(), true,
                                           options_.tls.match_names, options_.tls.tlsa);
    if (!channel) {
      abort({Outcome::Temporary, 0, "4.7.5", fmt::format("cannot start TLS: {}", channel.error())});
      return;
    }
    log::debug({options_.log_id, ""}, "{}: TLS handshake (name \"{}\")", describeRemote(),
               tlsName());
    transport_->startTls(std::move(*channel)); // transportSecured() or transportGone() follow
    armTimer();
  }

  void transportSecured() override {
    tlsEstablished();
    deliverSoon();
  }

  void tlsEstablished() {
    if (tcp_closing_) {
      return;
    }
    security_.tls = transport_->tls()->details();
    const tls::TlsDetails& d = *security_.tls;
    tls::countHandshake(d.version);
    log::info({options_.log_id, ""}, "{}: secured: version={} cipher={} verified={}{}",
              describeRemote(), d.version, d.cipher, d.verified ? "true" : "false",
              d.peer_certificate ? fmt::format(" peer=\"{}\"", d.peer_subject) : "");
    bool implicit = options_.tls.mode == TlsMode::Implicit;
    phase_ = implicit ? Phase::Greeting : Phase::Hello;
    if (options_.tls.verify && !d.verified && !options_.tls.tlsa.empty()) {
      security_.failure = TlsFailure::TlsaMismatch;
      abort({Outcome::Temporary, 0, "4.7.5",
             fmt::format("DANE: the TLS certificate of {} matches none of the TLSA records of "
                         "\"{}\": {}",
                         describeRemote(), tlsName(),
                         d.peer_certificate ? d.verify_error : "no certificate presented")},
            !implicit);
      return;
    }
    if (options_.tls.verify && !d.verified) {
      security_.failure = TlsFailure::CertificateInvalid;
      abort({Outcome::Temporary, 0, "4.7.5",
             fmt::format("TLS certificate of {} not verified for \"{}\": {}", describeRemote(),
                         options_.tls.match_names.empty()
                             ? tlsName()
                             : fmt::format("{}", fmt::join(options_.tls.match_names, "\" or \"")),
                         d.peer_certificate ? d.verify_error : "no certificate presented")},
            !implicit);
      return;
    }
    if (implicit) {
      expect_.push_back({Await::Greeting});
      armTimer();
      return;
    }
    // RFC 3207 §4.2: what the server said before TLS counts no more; ask again.
    caps_ = Capabilities{};
    sayHello(Await::Ehlo);
    armTimer();
  }

  void tlsFailed(const std::string& why) {
    if (tcp_closing_) {
      return;
    }
    if (phase_ == Phase::Handshake) {
      security_.failure = TlsFailure::Handshake;
      abort({Outcome::Temporary, 0, "4.7.5", why});
    } else {
      connectionLost(why); // a broken record or the server's close_notify
    }
  }

  // ----------------------------------------------------------------------------------- AUTH

  void startAuth() {
    auto mechanism = chooseSaslMechanism(caps_.auth, options_.auth.type);
    if (!mechanism) {
      if (options_.auth.required) {
        abort(Status::temporary(fmt::format("AUTH is required, but cannot authenticate to {}: {}",
                                            describeRemote(), mechanism.error())),
              true);
        return;
      }
      // Haraka's behaviour: the mail goes without AUTH rather than not at all.
      log::warn({options_.log_id, ""}, "{}: AUTH configured, but {}: sending without AUTH",
                describeRemote(), mechanism.error());
      auth_skipped_ = true;
      afterHello();
      return;
    }
    sasl_ = std::make_unique<SaslClient>(*mechanism, options_.auth.user, options_.auth.password);
    secretCommand(sasl_->command(),
                  fmt::format("AUTH {} (credentials not logged)", toString(*mechanism)));
    expect_.push_back({Await::Auth});
    flush();
  }

  void authReply(const ServerReply& reply) {
    const char* mechanism = toString(sasl_->mechanism());
    if (reply.code == 334) {
      auto response = sasl_->respond(reply.lines.empty() ? std::string() : reply.lines.front());
      if (!response) {
        // Mid-exchange: whatever we said now would be read as a response.
        abort(Status::temporary(fmt::format("AUTH {}: {}", mechanism, response.error())));
        return;
      }
      secretCommand(*response, "(AUTH response not logged)");
      expect_.push_back({Await::Auth});
      flush();
      return;
    }
    if (reply.code / 100 == 2) {
      security_.auth = sasl_->mechanism();
      sasl_.reset();
      log::info({options_.log_id, ""}, "{}: authenticated with AUTH {}", describeRemote(),
                mechanism);
      afterHello();
      return;
    }
    // 535 and every 5xx: the credentials will not do better next time; 454 and 4xx: they may.
    // After those the server waits for a command again, so QUIT is in order.
    Status status = Status::fromReply(reply);
    bool exchange_over = status.outcome != Outcome::Ok;
    if (!exchange_over) {
      status.outcome = Outcome::Temporary; // a 3xx other than 334
    }
    status.reason = fmt::format("AUTH {} failed: {}", mechanism, status.reason);
    sasl_.reset();
    abort(std::move(status), exchange_over);
  }

  // ---------------------------------------------------------------------------------- send

  void send(Envelope envelope, std::shared_ptr<MessageSource> source, SendDone done,
            std::function<void()> sent) {
    auto txn = std::make_unique<Transaction>();
    txn->envelope = std::move(envelope);
    txn->source = std::move(source);
    txn->done = std::move(done);
    txn->sent = std::move(sent);
    std::size_t n = txn->envelope.recipients.size();
    txn->replies.rcpt.resize(n);
    txn->replies.final.resize(n);

    auto refuse = [&](Status status) {
      txn->replies.abort = std::move(status);
      finishTransaction(std::move(txn));
      deliverSoon();
    };
    const bool behind = acceptsAnother(); // goes out after the message in progress
    if (!behind && (!ready() || txn_)) {
      refuse(Status::temporary(tcp_closing_ ? "connection closed" : "connection not ready"));
      return;
    }
    if (n == 0) {
      refuse(Status::permanent("no recipients"));
      return;
    }
    const Envelope& e = txn->envelope;
    bool needs_utf8 = e.sender.is_utf8 || ascii::hasNonAscii(e.sender.format());
    if (!safeOnTheWire(e.sender.format())) {
      refuse(Status::permanent("invalid sender address"));
      return;
    }
    for (const auto& rcpt : e.recipients) {
      needs_utf8 = needs_utf8 || rcpt.is_utf8 || ascii::hasNonAscii(rcpt.format());
      if (!safeOnTheWire(rcpt.format())) {
        refuse(Status::permanent(fmt::format("invalid recipient address {}", rcpt.address())));
        return;
      }
    }
    if (needs_utf8 && !caps_.smtputf8) {
      refuse({Outcome::Permanent, 0, "5.6.7",
              "the server does not support SMTPUTF8, which this message's addresses need"});
      return;
    }
    if (caps_.size && caps_.size_limit > 0 && e.size && *e.size > caps_.size_limit) {
      refuse({Outcome::Permanent, 0, "5.3.4",
              fmt::format("message size {} exceeds the server's limit of {}", *e.size,
                          caps_.size_limit)});
      return;
    }

    if (e.options.requiretls) {
      // RFC 8689 4.2.1: only over TLS whose certificate verified, to a server offering it.
      const bool verified = security_.tls && security_.tls->verified;
      if (!verified || !caps_.requiretls) {
        refuse({Outcome::Permanent, 0, "5.7.30",
                fmt::format("REQUIRETLS support required: {}",
                            !verified ? "no TLS with a verified certificate"
                                      : "the server does not offer REQUIRETLS")});
        return;
      }
    }

    Transaction& t = *txn;
    t.behind_dot = behind;
    (behind ? next_ : txn_) = std::move(txn);
    phase_ = Phase::Busy;
    std::string mail = fmt::format("MAIL FROM:{}", e.sender.format());
    if (caps_.size && e.size) {
      mail += fmt::format(" SIZE={}", *e.size);
    }
    if (caps_.eight_bit_mime && e.eight_bit) {
      mail += " BODY=8BITMIME";
    }
    if (needs_utf8) {
      mail += " SMTPUTF8";
    }
    if (caps_.dsn && e.options.dsn_ret != DsnReturn::Unset) {
      mail += e.options.dsn_ret == DsnReturn::Full ? " RET=FULL" : " RET=HDRS";
    }
    if (caps_.dsn && !e.options.dsn_envid.empty()) {
      mail += " ENVID=" + smtp::encodeXtext(e.options.dsn_envid);
    }
    if (e.options.requiretls) {
      mail += " REQUIRETLS";
    }
    if (caps_.mt_priority && e.options.has_mt_priority) {
      mail += fmt::format(" MT-PRIORITY={}", e.options.mt_priority);
    }
    command(mail);
    expect_.push_back({Await::Mail});
    t.pipelined = caps_.pipelining && options_.use_pipelining;
    if (t.pipelined) {
      for (std::size_t i = 0; i < n; ++i) {
        sendRcpt(t, i);
      }
      command("DATA");
      expect_.push_back({Await::Data});
    }
    flush();
    armTimer();
  }

  void sendRcpt(Transaction& t, std::size_t i) {
    std::string rcpt = fmt::format("RCPT TO:{}", t.envelope.recipients[i].format());
    const auto& options = t.envelope.rcpt_options;
    if (caps_.dsn && i < options.size()) {
      if (options[i].notify.given) {
        rcpt += " NOTIFY=" + smtp::formatDsnNotify(options[i].notify);
      }
      if (!options[i].orcpt_type.empty()) {
        rcpt += fmt::format(" ORCPT={};{}", options[i].orcpt_type,
                            smtp::encodeXtext(options[i].orcpt_address));
      }
    }
    command(rcpt);
    expect_.push_back({Await::Rcpt, i});
    t.rcpt_sent = i + 1;
  }

  void mailReply(const ServerReply& reply) {
    txn_->replies.mail = Status::fromReply(reply);
    if (txn_->pipelined) {
      return; // the RCPT and DATA replies are on their way
    }
    if (!reply.positive()) {
      finishTransaction(std::move(txn_)); // no transaction was opened: nothing to reset
      return;
    }
    sendRcpt(*txn_, 0);
    flush();
  }

  void rcptReply(std::size_t i, const ServerReply& reply) {
    txn_->replies.rcpt[i] = Status::fromReply(reply);
    if (reply.positive() && txn_->replies.mail && txn_->replies.mail->ok()) {
      txn_->replies.accepted.push_back(i);
    }
    if (txn_->pipelined) {
      return;
    }
    if (txn_->rcpt_sent < txn_->envelope.recipients.size()) {
      sendRcpt(*txn_, txn_->rcpt_sent);
      flush();
    } else if (txn_->replies.accepted.empty()) {
      resetThenFinish();
    } else {
      command("DATA");
      expect_.push_back({Await::Data});
      flush();
    }
  }

  void dataReply(const ServerReply& reply) {
    txn_->replies.data = Status::fromReply(reply);
    bool mail_ok = txn_->replies.mail && txn_->replies.mail->ok();
    if (txn_->behind_dot && txn_->replies.mail && txn_->replies.mail->code == 503) {
      // Haraka (and Upesi after it) refuse each line sent with a final dot, before its reply.
      // Nothing of this message was taken: a temporary failure without a reply, to try again
      // on another connection; this one sends one message at a time from now on.
      behind_dot_refused_ = true;
      auto& replies = txn_->replies;
      replies.abort = Status::temporary(
          "the server refused the commands pipelined after the previous message: " +
          replies.mail->reason);
      replies.mail.reset(); // refusals of the pipelining, not of this message
      for (auto& rcpt : replies.rcpt) {
        rcpt.reset();
      }
      replies.data.reset();
      replies.accepted.clear();
      finishTransaction(std::move(txn_));
      return;
    }
    if (reply.code == 354) {
      if (!mail_ok || txn_->replies.accepted.empty()) {
        // RFC 2920 §3.1 forbids this; whatever we sent now would be a message to nobody.
        abort(Status::temporary("the server accepted DATA with no accepted recipient"));
        return;
      }
      startBody();
      return;
    }
    if (mail_ok) {
      resetThenFinish();
    } else {
      finishTransaction(std::move(txn_));
    }
  }

  /// MAIL was accepted but the message will not be sent: close the transaction with RSET so the
  /// connection can carry another one.
  void resetThenFinish() {
    command("RSET");
    expect_.push_back({Await::TxnRset});
    flush();
  }

  void finalReply(const ServerReply& reply) {
    Status status = Status::fromReply(reply);
    for (std::size_t i : txn_->replies.accepted) {
      txn_->replies.final[i] = status;
    }
    finishTransaction(std::move(txn_));
  }

  void lmtpFinalReply(std::size_t k, const ServerReply& reply) {
    txn_->replies.final[txn_->replies.accepted[k]] = Status::fromReply(reply);
    if (k + 1 == txn_->replies.accepted.size()) {
      finishTransaction(std::move(txn_));
    }
  }

  /// Builds the result from what the server said and hands it to deliver().
  void finishTransaction(std::unique_ptr<Transaction> txn) {
    if (!txn_ && next_) {
      txn_ = std::move(next_); // the message pipelined behind it: its replies come next
    }
    // Its delivery leaves the connection to the one behind, even if that one ends at once.
    const bool followed = txn_ != nullptr;
    if (!txn_) {
      body_active_ = false;
    }
    if (!txn_ && !tcp_closing_ && phase_ == Phase::Busy) {
      phase_ = Phase::Ready;
    }
    TransactionResult summary = summarizeTransaction(txn->envelope.recipients, txn->replies);
    DeliveryResult result;
    result.message = std::move(summary.message);
    result.recipients = std::move(summary.recipients);
    result.remote = remote_;
    result.lmtp = options_.lmtp;
    result.security = security_;
    if (txn->done) {
      pending_.push_back(
          [this, followed, result = std::move(result), done = std::move(txn->done)]() mutable {
            result.reusable = !followed && ready();
            done(result);
          });
    }
  }

  // ---------------------------------------------------------------------------------- body

  void startBody() {
    body_active_ = true;
    source_reading_ = false; // a read of an earlier message may never have answered
    last_two_ = "\r\n";      // what precedes the body: the end of the DATA command
    armTimer();
    pumpBody();
  }

  std::size_t queuedBytes() const { return out_.size() + transport_->backlog(); }

  /// Reads chunks while the socket keeps up. A loop, not recursion: a source that answers
  /// inline comes back here through `in_pump_`.
  void pumpBody() {
    if (in_pump_) {
      return;
    }
    in_pump_ = true;
    while (body_active_ && !source_reading_ && !tcp_closing_ &&
           queuedBytes() < options_.write_high_water) {
      source_reading_ = true;
      std::weak_ptr<Impl> weak = weak_from_this();
      auto generation = ++read_generation_;
      txn_->source->read(options_.chunk_size, [weak, generation](Result<std::string_view> chunk) {
        auto self = weak.lock();
        if (!self || self->abandoned_ || generation != self->read_generation_) {
          return; // the transaction or the client is gone
        }
        self->bodyChunk(std::move(chunk));
        if (!self->in_pump_) { // a late answer: an entry point of its own
          self->pumpBody();
          self->deliver();
        }
      });
    }
    in_pump_ = false;
  }

  void bodyChunk(Result<std::string_view> chunk) {
    source_reading_ = false;
    if (!body_active_) {
      return;
    }
    if (!chunk) {
      // Never end a message we could not read with a dot: that would deliver half of it.
      abort(Status::temporary(fmt::format("cannot read the message: {}", chunk.error())));
      return;
    }
    std::string_view bytes = *chunk;
    if (bytes.empty()) {
      body_active_ = false;
      if (last_two_ != "\r\n") {
        out_ += "\r\n";
      }
      out_ += ".\r\n";
      log::protocol({options_.log_id, ""}, "C: . (end of data)");
      txn_->body_sent = true;
      if (txn_->sent) {
        pending_.push_back(std::move(txn_->sent));
        txn_->sent = nullptr;
      }
      if (options_.lmtp) {
        for (std::size_t k = 0; k < txn_->replies.accepted.size(); ++k) {
          expect_.push_back({Await::LmtpFinal, k});
        }
      } else {
        expect_.push_back({Await::Final});
      }
      flush();
      armTimer();
      return;
    }
    if (bytes.size() >= 2) {
      last_two_.assign(bytes.substr(bytes.size() - 2));
    } else {
      last_two_ = last_two_.substr(1) + std::string(bytes);
    }
    out_.append(bytes);
    flush();
    armTimer(); // progress
  }

  // ----------------------------------------------------------------------------- reset/quit

  void reset(ResetDone done) {
    if (!ready()) {
      pending_.push_back(
          [done = std::move(done)] { done(Status::temporary("connection not ready")); });
      deliverSoon();
      return;
    }
    reset_done_ = std::move(done);
    phase_ = Phase::Busy;
    command("RSET");
    expect_.push_back({Await::Rset});
    flush();
    armTimer();
  }

  void finishReset(Status status) {
    if (!tcp_closing_ && phase_ == Phase::Busy) {
      phase_ = Phase::Ready;
    }
    if (!status.ok()) {
      usable_ = false;
    }
    if (reset_done_) {
      pending_.push_back(
          [status = std::move(status), done = std::move(reset_done_)] { done(status); });
      reset_done_ = nullptr;
    }
  }

  void quit(QuitDone done) {
    if (!ready()) {
      dropCallbacks();
      closeConnection(false);
      if (done) {
        pending_.push_back(std::move(done));
        deliverSoon();
      }
      return;
    }
    quit_done_ = std::move(done);
    phase_ = Phase::Quitting;
    command("QUIT");
    expect_.push_back({Await::Quit});
    flush();
    armTimer();
  }

  void finishQuit() {
    if (quit_done_) {
      pending_.push_back(std::move(quit_done_));
      quit_done_ = nullptr;
    }
    closeConnection(false);
  }

  // ------------------------------------------------------------------------------ failures

  /// The connection cannot go on: the operation in progress fails with `status`. `polite`: try
  /// a QUIT on the way out (never in the middle of the message, where it would be data).
  void abort(Status status, bool polite = false) {
    bool in_body = body_active_;
    usable_ = false;
    if (phase_ == Phase::Handshake) {
      security_.tls_failed = true;
    }
    if (connect_done_) {
      finishConnect(status);
    } else if (txn_) {
      auto behind = std::move(next_);
      txn_->replies.abort = status;
      finishTransaction(std::move(txn_));
      if (behind) {
        // Nothing of it was taken: a temporary failure without a reply, to try again.
        behind->replies.abort = Status::temporary(
            fmt::format("the connection failed before this message: {}", status.reason));
        finishTransaction(std::move(behind));
      }
    } else if (reset_done_) {
      finishReset(status);
    } else if (quit_done_) {
      finishQuit();
    }
    log::debug({options_.log_id, ""}, "{}: {}", describeRemote(), status.reason);
    closeConnection(polite && connected_ && !in_body);
  }

  std::string waitingFor() const {
    if (phase_ == Phase::Connecting) {
      return "connecting";
    }
    if (phase_ == Phase::Handshake) {
      return "waiting for TLS handshake";
    }
    if (body_active_) {
      return "sending message data";
    }
    if (expect_.empty()) {
      return "while idle";
    }
    const AwaitedReply& awaited = awaitedReply(expect_.front().what);
    return options_.lmtp && awaited.lmtp_waiting_for != nullptr ? awaited.lmtp_waiting_for
                                                                : awaited.waiting_for;
  }

  void onTimeout() {
    if (tcp_closing_) {
      return;
    }
    if (phase_ == Phase::Quitting) {
      finishQuit();
    } else {
      abort(Status::temporary(fmt::format("timeout {}", waitingFor())), true);
    }
    deliver();
  }

  void connectionLost(const std::string& how) {
    if (phase_ == Phase::Quitting) {
      finishQuit();
      return;
    }
    if (phase_ != Phase::Handshake && !body_active_ && expect_.empty()) {
      // An idle pooled connection the server closed: nothing to report, just not reusable.
      usable_ = false;
      closeConnection(false);
      return;
    }
    abort(Status::temporary(fmt::format("{} {}", how, waitingFor())));
  }

  void unexpectedReply(const ServerReply& reply) {
    usable_ = false;
    if (txn_ || connect_done_ || reset_done_ || quit_done_) {
      Status status = Status::fromReply(reply);
      if (status.outcome == Outcome::Ok) {
        status.outcome = Outcome::Temporary;
      }
      status.reason = "unexpected reply: " + status.reason;
      abort(std::move(status));
    } else {
      closeConnection(reply.code != 421);
    }
  }

  // ------------------------------------------------------------------------------- replies

  void handleReply(const ServerReply& reply) {
    log::protocol({options_.log_id, ""}, "S: {}", reply.describe());
    if (expect_.empty()) {
      unexpectedReply(reply);
      return;
    }
    Expect e = expect_.front();
    expect_.pop_front();
    if (reply.code == 421 && e.what != Await::Quit) {
      // RFC 5321 §3.8: the server is closing the channel; nothing more will come.
      abort(Status::fromReply(reply));
      return;
    }
    switch (e.what) {
    case Await::Greeting:
      greeting_ = reply;
      if (reply.positive()) {
        sayHello(Await::Ehlo);
      } else {
        finishConnect(Status::fromReply(reply));
        closeConnection(true);
      }
      break;
    case Await::Ehlo:
    case Await::Helo:
      helloReply(e.what, reply);
      break;
    case Await::StartTls:
      startTlsReply(reply);
      break;
    case Await::Auth:
      authReply(reply);
      break;
    case Await::Mail:
      mailReply(reply);
      break;
    case Await::Rcpt:
      rcptReply(e.index, reply);
      break;
    case Await::Data:
      dataReply(reply);
      break;
    case Await::Final:
      finalReply(reply);
      break;
    case Await::LmtpFinal:
      lmtpFinalReply(e.index, reply);
      break;
    case Await::Rset:
      finishReset(Status::fromReply(reply));
      break;
    case Await::TxnRset:
      if (!reply.positive()) {
        usable_ = false;
      }
      finishTransaction(std::move(txn_));
      if (!usable_) {
        closeConnection(true);
      }
      break;
    case Await::Quit:
      finishQuit();
      break;
    }
    armTimer();
  }

  /// The timer follows the first reply we wait for, or the body's progress.
  void armTimer() {
    if (tcp_closing_ || phase_ == Phase::Connecting) {
      return;
    }
    std::chrono::milliseconds timeout{0};
    if (body_active_) {
      timeout = options_.timeouts.data_block;
    } else if (phase_ == Phase::Handshake) {
      timeout = options_.timeouts.command;
    } else if (!expect_.empty()) {
      timeout = options_.timeouts.*awaitedReply(expect_.front().what).timeout;
    } else {
      timer_.stop();
      return;
    }
    timer_.start(timeoutMs(timeout), [this] { onTimeout(); });
  }

  static std::uint64_t timeoutMs(std::chrono::milliseconds ms) {
    return ms.count() > 0 ? static_cast<std::uint64_t>(ms.count()) : 1;
  }

  std::string describeRemote() const {
    return options_.host.empty() ? options_.ip : fmt::format("{} [{}]", options_.host, options_.ip);
  }

  // ----------------------------------------------------------------------------------- I/O

  void command(const std::string& line) { secretCommand(line, line); }

  /// A command whose log line is `shown` instead: AUTH lines hold credentials.
  void secretCommand(const std::string& line, const std::string& shown) {
    log::protocol({options_.log_id, ""}, "C: {}", shown);
    out_ += line;
    out_ += "\r\n";
  }

  void transportReceived(std::string_view bytes) override {
    if (tcp_closing_) {
      return;
    }
    feedReplies(bytes);
    deliver();
  }

  void transportGone(const net::PeerGone& gone) override {
    if (tcp_closing_) {
      return;
    }
    switch (gone.cause) {
    case net::PeerGone::Cause::Eof:
      connectionLost("connection closed by the server");
      break;
    case net::PeerGone::Cause::Tls:
      tlsFailed(gone.detail);
      break;
    case net::PeerGone::Cause::Error:
    case net::PeerGone::Cause::Stalled:
      connectionLost(fmt::format("connection lost ({})", gone.detail));
      break;
    }
    deliver();
  }

  /// A write finished: the body goes on.
  void transportDrained() override {
    if (tcp_closing_) {
      return;
    }
    if (body_active_) {
      armTimer(); // progress
      pumpBody();
    }
    deliver();
  }

  void feedReplies(std::string_view bytes) {
    if (tcp_closing_) {
      return;
    }
    std::vector<ServerReply> replies;
    auto parsed = parser_.feed(bytes, replies);
    auto generation = transport_generation_;
    for (const auto& reply : replies) {
      if (tcp_closing_ || generation != transport_generation_) {
        return; // closed, or TLS started: the rest was said in clear, and is dropped
      }
      handleReply(reply);
    }
    if (!parsed && !tcp_closing_ && generation == transport_generation_) {
      usable_ = false;
      if (txn_ || connect_done_ || reset_done_ || quit_done_) {
        abort(Status::temporary(fmt::format("protocol error: {}", parsed.error())));
      } else {
        closeConnection(false);
      }
    }
  }

  /// Sends what the commands and the body put in out_ (the transport holds it while a TLS
  /// handshake runs: the first EHLO waits for its end).
  void flush() {
    if (out_.empty() || tcp_closing_) {
      return;
    }
    transport_->write(std::exchange(out_, {}));
  }

  uv_loop_t* loop_;
  ClientOptions options_;
  Remote remote_;
  Capabilities caps_;
  std::unique_ptr<net::Transport> transport_;
  LoopTimer timer_;            // the timeout of whatever we wait for
  uv_timer_t defer_timer_{};   // delivers results decided inside a call
  int open_handles_ = 2;       // the socket and defer_timer_, until their close callbacks
  std::shared_ptr<Impl> self_; // keeps this alive until then

  Phase phase_ = Phase::Idle;
  bool abandoned_ = false;
  bool connected_ = false;
  bool tcp_closing_ = false;
  bool usable_ = true; // nothing seen that forbids another transaction
  ReplyParser parser_;
  std::uint64_t transport_generation_ = 0; // changes when TLS starts, so feedReplies() stops
  ServerReply greeting_;
  std::deque<Expect> expect_;
  std::string out_;

  std::deque<std::function<void()>> pending_; // finished operations' callbacks, for deliver()
  ConnectDone connect_done_;
  ResetDone reset_done_;
  QuitDone quit_done_;
  std::unique_ptr<Transaction> txn_;
  std::unique_ptr<Transaction> next_; // pipelined behind txn_ (acceptsAnother)
  bool behind_dot_refused_ = false;   // the server refused a message sent behind a final dot

  bool body_active_ = false;
  bool source_reading_ = false;
  bool in_pump_ = false;
  std::uint64_t read_generation_ = 0;
  std::string last_two_;

  bool starttls_refused_ = false;
  std::unique_ptr<SaslClient> sasl_; // the AUTH exchange in progress
  bool auth_skipped_ = false;        // no usable mechanism, not required: on without AUTH
  Security security_;
};

// ------------------------------------------------------------------------------- SmtpClient

SmtpClient::SmtpClient(uv_loop_t* loop, ClientOptions options)
    : impl_(std::make_shared<Impl>(loop, std::move(options))) {
  impl_->self_ = impl_;
}

SmtpClient::~SmtpClient() {
  impl_->abandon();
}

void SmtpClient::connect(ConnectDone done) {
  impl_->connect(std::move(done));
}

void SmtpClient::send(Envelope envelope, std::shared_ptr<MessageSource> source, SendDone done,
                      std::function<void()> sent) {
  impl_->send(std::move(envelope), std::move(source), std::move(done), std::move(sent));
}

bool SmtpClient::acceptsAnother() const {
  return impl_->acceptsAnother();
}

bool SmtpClient::busy() const {
  // A finished message's result not yet handed over counts: its delivery still holds the
  // connection (the one behind a final dot may end in the same turn as the one before it).
  return (impl_->txn_ || impl_->next_ || !impl_->pending_.empty()) && !impl_->tcp_closing_;
}

void SmtpClient::reset(ResetDone done) {
  impl_->reset(std::move(done));
}

void SmtpClient::quit(QuitDone done) {
  impl_->quit(std::move(done));
}

void SmtpClient::fail(const std::string& reason) {
  impl_->abort(Status::temporary(reason));
  impl_->deliverSoon();
}

void SmtpClient::close() {
  impl_->dropCallbacks();
  impl_->usable_ = false;
  impl_->closeConnection(false);
}

bool SmtpClient::ready() const {
  return impl_->ready();
}

const Capabilities& SmtpClient::capabilities() const {
  return impl_->caps_;
}

const Remote& SmtpClient::remote() const {
  return impl_->remote_;
}

const Security& SmtpClient::security() const {
  return impl_->security_;
}

} // namespace upesi::smtp_client
