// Session: socket I/O, input processing, replies and closing. The commands are in
// session_commands.cpp, the DATA phase and queueing in session_data.cpp.
#include "worker/smtp/session.hpp"

#include "common/log/escape.hpp"
#include "common/log/logger.hpp"
#include "common/tls/tls_stream.hpp"
#include "worker/smtp/endpoint_info.hpp"
#include "worker/smtp/uuid.hpp"

#include <fmt/format.h>

namespace upesi::smtp {

// Input held while a hook runs, past which reading pauses (the client must wait for replies).
constexpr std::size_t MaxBufferedInput = 64 * 1024;
// Haraka 3.3: more than this pipelined after the final dot is not a client, it is an attack.
constexpr std::size_t MaxPipelinedAfterData = 8192;

Session::Session(SessionEnvironment& env, uv_tcp_t* tcp)
    : env_(env), hooks_(env.hooks), limits_(env.limits), tls_context_(env.tls),
      idle_timer_(env.loop), auth_delay_(env.loop), line_deadline_(env.loop),
      data_deadline_(env.loop), data_rate_timer_(env.loop), proxy_deadline_(env.loop),
      uuid_(newUuid()), started_(std::chrono::steady_clock::now()) {
  net::Transport::Options options;
  options.max_output = limits_.max_output_buffer;
  options.write_timeout = std::chrono::seconds(limits_.write_timeout_s);
  transport_ = std::make_unique<net::Transport>(env_.loop, tcp,
                                                static_cast<net::TransportOwner&>(*this), options);
  remote_ = peerEndpoint(tcp);
  local_ = localEndpoint(tcp);
  local_.host = env_.me;
  listener_port_ = local_.port;
}

Session::~Session() {
  *alive_ = false;
  if (hook_) {
    hook_->cancel();
  }
  // Destroyed while open (forced stop): the transport closes the socket without the niceties.
}

std::string Session::logUuid() const {
  return txn_ ? txn_->uuid() : uuid_;
}

bool Session::relaying() const {
  return txn_ ? txn_->relaying : relaying_;
}

void Session::setRelaying(bool relaying) {
  if (txn_) {
    txn_->relaying = relaying;
  } else {
    relaying_ = relaying;
  }
}

void Session::start() {
  transport_->start();
  if (auto ip = util::IpAddress::parse(remote_.ip); ip && env_.proxy_trust.trusts(*ip)) {
    awaitProxyHeader();
    return;
  }
  beginSession({});
}

void Session::beginSession(std::string_view early) {
  phase_ = Phase::Connecting;
  log::info({uuid_, ""}, "connect ip={} port={} local_ip={} local_port={}", remote_.ip,
            remote_.port, local_.ip, local_.port);
  armIdleTimer();
  if (implicitTls()) {
    startTlsHandshake(true, early); // the connect hooks run once the handshake is done
    return;
  }
  runHook(Hook::ConnectInit, {}, [this](HookResult) { connectInitDone(); });
  if (!early.empty() && phase_ != Phase::Closing && phase_ != Phase::Closed) {
    received(early); // sent with the PROXY header, before any greeting
  }
}

// ---------------------------------------------------------------------------------------- I/O

void Session::transportGone(const net::PeerGone& gone) {
  switch (gone.cause) {
  case net::PeerGone::Cause::Eof:
    peerGone("client closed the connection");
    break;
  case net::PeerGone::Cause::Error:
    peerGone(gone.detail);
    break;
  case net::PeerGone::Cause::Tls:
    peerGone(tls() ? gone.detail : "TLS handshake failed: " + gone.detail);
    break;
  case net::PeerGone::Cause::Stalled:
    log::warn({logUuid(), ""}, "client does not read its replies ({}): dropping the connection",
              gone.detail);
    peerGone("dropped: replies unread");
    break;
  }
}

void Session::transportClosed() {
  env_.on_closed(this); // the worker deletes the session on a later loop turn
}

void Session::received(std::string_view bytes) {
  if (phase_ == Phase::Closing || phase_ == Phase::Closed) {
    return; // a closing session reads nothing more
  }
  if (phase_ == Phase::ProxyHeader) {
    proxyReceived(bytes);
    return;
  }
  if (!greeted_) {
    early_talker_ = true;
  }
  armIdleTimer();
  window_bytes_ += bytes.size();
  in_.append(bytes);
  if (awaiting_message_reply_) {
    after_data_bytes_ += bytes.size();
    if (after_data_bytes_ > MaxPipelinedAfterData) {
      log::warn({logUuid(), ""}, "{} bytes pipelined after the end of DATA: disconnecting",
                after_data_bytes_);
      disconnect();
      return;
    }
  }
  if (busy_ || !greeted_) {
    updateReading();
    return;
  }
  processInput();
}

void Session::peerGone(const std::string& why) {
  if (peer_gone_) {
    return;
  }
  peer_gone_ = true;
  if (phase_ == Phase::ProxyHeader) {
    // No hook ran: nothing to tell the plugins. A proxy's plain TCP health check connects
    // and closes without a byte, which is no news either.
    if (proxy_parser_ && proxy_parser_->buffered() > 0) {
      log::info({uuid_, ""}, "proxy {} went away inside its PROXY header: {}", remote_.ip, why);
    } else {
      log::debug({uuid_, ""}, "proxy {} closed without a PROXY header: {}", remote_.ip, why);
    }
    closeSocket();
    return;
  }
  log::info({logUuid(), ""}, "{}", why);
  if (phase_ == Phase::Closing) {
    // The disconnect hook may be running: it finishes, then the socket closes at once.
    if (disconnect_hook_done_) {
      closeSocket();
    }
    return;
  }
  if (phase_ == Phase::Closed) {
    return;
  }
  if (hook_) {
    hook_->cancel();
    hook_.reset();
    busy_ = false;
  }
  transport_->setReading(false);
  startClose();
}

void Session::updateReading() {
  if (peer_gone_ || phase_ == Phase::Closed) {
    return;
  }
  // Input is bounded here, output in the transport (which stops reading while it is full).
  transport_->setReading(phase_ != Phase::Closing && in_.size() - in_pos_ < MaxBufferedInput);
  updateDeadlines();
}

void Session::reply(int code, std::string_view enhanced, std::vector<std::string> lines) {
  reply(Reply{code, std::string(enhanced), std::move(lines)});
}

void Session::reply(Reply r) {
  if (peer_gone_ || phase_ == Phase::Closed) {
    return;
  }
  if (log::Logger::instance().enabled(log::Level::Protocol)) {
    log::protocol({logUuid(), ""}, "S: {} {}", r.code, r.lines.empty() ? "" : r.lines.front());
  }
  std::string bytes;
  appendReply(bytes, r);
  transport_->write(std::move(bytes)); // corked while input is handled: replies leave together
}

void Session::flush() {
  if (!peer_gone_ && phase_ != Phase::Closed) {
    transport_->flush();
  }
}

void Session::armIdleTimer() {
  if (phase_ == Phase::Closed) {
    return;
  }
  int seconds = phase_ == Phase::Data || bdat_.reading() ? limits_.data_timeout_s
                                                         : limits_.inactivity_timeout_s;
  idle_timer_.start(static_cast<std::uint64_t>(seconds) * 1000, [this]() { onIdleTimeout(); });
}

void Session::onIdleTimeout() {
  if (phase_ == Phase::Closing || phase_ == Phase::Closed) {
    return;
  }
  log::info({logUuid(), ""}, "idle timeout in {}",
            phase_ == Phase::Data ? "DATA" : "command phase");
  if (hook_) {
    hook_->cancel();
    hook_.reset();
    busy_ = false;
  }
  reply(421, "4.4.2", {fmt::format("{} Error: timeout exceeded", env_.me)});
  startClose();
}

// ------------------------------------------------------------------------------------ input

void Session::processInput() {
  if (processing_) {
    return;
  }
  processing_ = true;
  transport_->cork();
  while (!busy_ && !peer_gone_ && (phase_ == Phase::Command || phase_ == Phase::Data)) {
    if (outputFull()) {
      flush(); // what the socket takes now makes room
      if (outputFull()) {
        break; // the rest waits for the client to read (outputDrained)
      }
    }
    if (phase_ == Phase::Data) {
      handleDataBytes();
      if (phase_ == Phase::Data) {
        break; // waiting for more DATA
      }
      continue;
    }
    if (bdat_.reading()) {
      handleBdatBytes();
      if (bdat_.reading()) {
        break; // waiting for more of the chunk
      }
      continue;
    }
    std::string_view pending(in_.data() + in_pos_, in_.size() - in_pos_);
    if (!line_seen_ && pending.starts_with(net::ProxyHeaderParser::V2Signature.substr(0, 5))) {
      // A PROXY v2 header from a peer not trusted to send one: read as lines, it would end in
      // a QUIT.
      in_pos_ = in_.size();
      cmdProxy();
      break;
    }
    if (transport_->tls() == nullptr && pending.size() >= 2 && pending[0] == '\x16' &&
        pending[1] == '\x03') {
      // A TLS ClientHello where a command belongs: the client wants implicit TLS.
      in_pos_ = in_.size();
      reply(501, "5.5.1", {"SSL attempted over a non-SSL socket"});
      startClose();
      break;
    }
    if (auth_.skippingLine()) {
      // The rest of an over-long AUTH response: dropped up to its end.
      in_pos_ += auth_.skipLine(pending);
      if (auth_.skippingLine()) {
        break; // its end has not come yet
      }
      continue;
    }
    auto lf = pending.find('\n');
    bool in_auth = auth_.awaitingResponse();
    std::size_t max_line = auth_.lineLimit(limits_.max_line_length);
    bool too_long = lf == std::string_view::npos ? pending.size() >= max_line : lf + 1 > max_line;
    if (too_long && in_auth) {
      refuse(auth_.responseTooLong().reply);
      continue;
    }
    if (too_long) {
      refuse(500, "5.5.2", {"Line too long"});
      startClose();
      break;
    }
    if (lf == std::string_view::npos) {
      break;
    }
    std::string_view line = pending.substr(0, lf);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    in_pos_ += lf + 1;
    line_seen_ = true;
    if (after_data_bytes_ > 0) {
      // Sent together with the final dot, before our answer: Haraka 3.3 refuses each line.
      after_data_bytes_ = after_data_bytes_ > lf + 1 ? after_data_bytes_ - (lf + 1) : 0;
      refuse(503, "5.5.1", {"Bad sequence of commands - pipelined after end of DATA"});
      continue;
    }
    if (auth_.awaitingResponse()) {
      authContinue(line);
      continue;
    }
    handleLine(line);
  }
  if (in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  } else if (in_pos_ > 32768) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  processing_ = false;
  if (!peer_gone_ && phase_ != Phase::Closed) {
    transport_->uncork();
  }
  updateReading();
}

void Session::refuse(int code, std::string_view enhanced, std::vector<std::string> lines) {
  reply(code, enhanced, std::move(lines));
  countError();
}

void Session::refuse(Reply r) {
  reply(std::move(r));
  countError();
}

void Session::countError() {
  ++errors_;
  if (errors_ > limits_.max_errors && phase_ != Phase::Closing && phase_ != Phase::Closed) {
    reply(421, "4.7.0", {fmt::format("{} Error: too many errors", env_.me)});
    startClose();
  }
}

// ------------------------------------------------------------------------------------ hooks

void Session::runHook(Hook hook, const HookArguments& arguments, HookDone done) {
  busy_ = true;
  window_paused_ = true; // the client waits for us: not counted against its data rate
  // The runner may answer inline; `done` then runs (and may start the next hook) before run()
  // returns, so only a runner still waiting becomes hook_.
  auto finished = std::make_shared<bool>(false);
  auto runner = plugin::HookRunner::run(
      env_.loop, *hooks_, hook, *this, arguments.params(), logUuid(),
      [this, finished, done = std::move(done)](HookResult result) {
        *finished = true;
        hook_.reset();
        busy_ = false;
        done(std::move(result));
        hookFinished();
      },
      arguments.owner());
  if (!*finished) {
    hook_ = std::move(runner);
  }
}

void Session::hookFinished() {
  if (!busy_ && !processing_ && !peer_gone_ &&
      (phase_ == Phase::Command || phase_ == Phase::Data)) {
    processInput();
  } else if (!busy_ && !processing_) {
    flush();
  }
}

// ------------------------------------------------------------------------------------ close

void Session::disconnect() {
  if (phase_ == Phase::Closing || phase_ == Phase::Closed) {
    return;
  }
  if (phase_ == Phase::ProxyHeader) {
    closeSocket(); // no hook ran, so no disconnect hook either
    return;
  }
  if (hook_) {
    hook_->cancel();
    hook_.reset();
    busy_ = false;
  }
  startClose();
}

void Session::shutdown() {
  shutting_down_ = true;
  if (phase_ == Phase::ProxyHeader) {
    proxyRefused(421, "4.3.2",
                 fmt::format("{} Service shutting down, closing connection", env_.me));
    return;
  }
  if (!busy_ && phase_ == Phase::Command) {
    reply(421, "4.3.2", {fmt::format("{} Service shutting down, closing connection", env_.me)});
    startClose();
  }
}

void Session::startClose() {
  if (phase_ == Phase::Closing || phase_ == Phase::Closed) {
    return;
  }
  phase_ = Phase::Closing;
  updateReading();
  idle_timer_.stop();
  auto afterReset = [this]() {
    // disconnect runs every plugin whatever they answer, even when the client is gone.
    runHook(Hook::Disconnect, {}, [this](HookResult) {
      disconnect_hook_done_ = true;
      finishClose();
    });
  };
  if (hook_) {
    hook_->cancel();
    hook_.reset();
    busy_ = false;
  }
  resetTransaction(afterReset);
}

void Session::finishClose() {
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_);
  log::notice({uuid_, ""},
              "disconnect ip={} helo=\"{}\" relay={} early={} esmtp={} tls={} errors={} "
              "txns={} rcpts={} msgs={} time={:.3f}",
              remote_.ip, log::escaped(hello_host_), relaying_ ? "Y" : "N",
              early_talker_ ? "Y" : "N", esmtp_ ? "Y" : "N", tls() ? "Y" : "N", errors_,
              transaction_count_, rcpt_accepted_, msgs_accepted_,
              static_cast<double>(elapsed.count()) / 1000.0);
  closeSocket();
}

void Session::closeSocket() {
  if (phase_ == Phase::Closed) {
    return;
  }
  phase_ = Phase::Closed;
  idle_timer_.stop();
  proxy_deadline_.stop();
  line_deadline_.stop();
  data_deadline_.stop();
  data_rate_timer_.stop();
  // The last replies (and close_notify) get write_timeout to leave; a client that is gone or
  // reads nothing is not waited for. transportClosed() follows from the close callback.
  if (peer_gone_) {
    transport_->close();
  } else {
    transport_->closeAfterFlush();
  }
}

} // namespace upesi::smtp
