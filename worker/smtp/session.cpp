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

struct Session::Socket {
  uv_tcp_t tcp{};
  Session* owner = nullptr;
};

struct Session::WriteRequest {
  uv_write_t req{};
  std::string data;
  Session* owner = nullptr;
};

Session::Session(SessionEnvironment& env, uv_tcp_t* tcp)
    : env_(env), hooks_(env.hooks), limits_(env.limits), socket_(reinterpret_cast<Socket*>(tcp)),
      tls_context_(env.tls), write_stall_timer_(env.loop), line_deadline_(env.loop),
      data_deadline_(env.loop), data_rate_timer_(env.loop), uuid_(newUuid()),
      started_(std::chrono::steady_clock::now()) {
  socket_->owner = this;
  socket_->tcp.data = socket_;
  remote_ = peerEndpoint(&socket_->tcp);
  local_ = localEndpoint(&socket_->tcp);
  local_.host = env_.me;
  idle_timer_ = new uv_timer_t{};
  uv_timer_init(env_.loop, idle_timer_);
  idle_timer_->data = this;
}

uv_tcp_t* allocateSessionSocket() {
  static_assert(offsetof(Session::Socket, tcp) == 0, "the tcp handle must come first");
  return reinterpret_cast<uv_tcp_t*>(new Session::Socket{});
}

void freeUnusedSessionSocket(uv_tcp_t* tcp) {
  uv_close(reinterpret_cast<uv_handle_t*>(tcp),
           [](uv_handle_t* h) { delete reinterpret_cast<Session::Socket*>(h); });
}

Session::~Session() {
  *alive_ = false;
  if (hook_) {
    hook_->cancel();
  }
  if (phase_ != Phase::Closed) {
    // Destroyed while open (forced stop): the socket goes without the niceties.
    socket_->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&socket_->tcp),
             [](uv_handle_t* h) { delete reinterpret_cast<Socket*>(h); });
  }
  if (idle_timer_ != nullptr) {
    idle_timer_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(idle_timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
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
  log::info({uuid_, ""}, "connect ip={} port={} local_ip={} local_port={}", remote_.ip,
            remote_.port, local_.ip, local_.port);
  reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&socket_->tcp), onAlloc, onRead);
  armIdleTimer();
  if (implicitTls()) {
    startTlsHandshake(true); // the connect hooks run once the handshake is done
    return;
  }
  runHook(Hook::ConnectInit, {}, [this](HookResult) { connectInitDone(); });
}

// ---------------------------------------------------------------------------------------- I/O

void Session::onAlloc(uv_handle_t* /*handle*/, std::size_t /*suggested*/, uv_buf_t* buf) {
  // One buffer for every session of the loop: read callbacks consume it before returning.
  static thread_local char buffer[64 * 1024];
  *buf = uv_buf_init(buffer, sizeof buffer);
}

void Session::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* socket = static_cast<Socket*>(stream->data);
  Session* self = socket->owner;
  if (self == nullptr) {
    return;
  }
  if (nread > 0) {
    std::string_view bytes(buf->base, static_cast<std::size_t>(nread));
    if (self->tls_) {
      self->tls_->received(bytes); // plaintext comes back through received()
    } else {
      self->received(bytes);
    }
  } else if (nread < 0) {
    self->peerGone(nread == UV_EOF ? "client closed the connection" : uv_strerror(int(nread)));
  }
}

void Session::received(std::string_view bytes) {
  if (phase_ == Phase::Closing || phase_ == Phase::Closed) {
    return; // a closing session reads nothing more
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

void Session::peerGone(const char* why) {
  if (peer_gone_) {
    return;
  }
  peer_gone_ = true;
  log::info({logUuid(), ""}, "{}", why);
  if (phase_ == Phase::Closing) {
    // The disconnect hook may be running: it finishes, then the socket closes at once.
    out_.clear();
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
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&socket_->tcp));
    reading_ = false;
  }
  out_.clear();
  startClose();
}

void Session::updateReading() {
  if (peer_gone_ || phase_ == Phase::Closed) {
    return;
  }
  // Input is bounded, and so is output: a client that never reads its replies is not read.
  bool want = phase_ != Phase::Closing && in_.size() - in_pos_ < MaxBufferedInput && !outputFull();
  if (want && !reading_) {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&socket_->tcp), onAlloc, onRead);
    reading_ = true;
  } else if (!want && reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&socket_->tcp));
    reading_ = false;
  }
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
  appendReply(out_, r);
  if (!processing_) {
    flush();
  }
}

void Session::flush() {
  if (out_.empty() || peer_gone_ || phase_ == Phase::Closed) {
    return;
  }
  std::string bytes = std::move(out_);
  out_.clear();
  if (tls_) {
    if (tls_->established()) {
      tls_->send(bytes); // the ciphertext comes back through writeSocket()
    }
    // Mid-handshake nothing can be said (a timeout's 421 would only corrupt the handshake).
    if (close_after_flush_ && writes_in_flight_ == 0) {
      closeSocket();
    }
    return;
  }
  writeSocket(std::move(bytes));
}

void Session::writeSocket(std::string bytes) {
  if (bytes.empty() || peer_gone_ || phase_ == Phase::Closed) {
    return;
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(&socket_->tcp);
  if (writes_in_flight_ == 0) {
    // Most replies fit in the socket buffer: write them now, without a request.
    uv_buf_t buf = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
    int n = uv_try_write(stream, &buf, 1);
    if (n == static_cast<int>(bytes.size())) {
      if (close_after_flush_ && out_.empty()) {
        closeSocket();
      }
      return;
    }
    if (n > 0) {
      bytes.erase(0, static_cast<std::size_t>(n));
    }
  }
  auto* w = new WriteRequest{};
  w->data = std::move(bytes);
  w->owner = this;
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  ++writes_in_flight_;
  if (int rc = uv_write(&w->req, stream, &buf, 1, onWrite); rc != 0) {
    --writes_in_flight_;
    delete w;
    peerGone(uv_strerror(rc));
    return;
  }
  if (outputFull() && !write_stall_timer_.armed()) {
    write_stall_timer_.start(static_cast<std::uint64_t>(limits_.write_timeout_s) * 1000,
                             [this]() { onWriteStalled(); });
  }
}

void Session::onWrite(uv_write_t* req, int status) {
  std::unique_ptr<WriteRequest> w(static_cast<WriteRequest*>(req->data));
  Session* self = w->owner;
  if (self == nullptr || status == UV_ECANCELED) {
    return;
  }
  --self->writes_in_flight_;
  if (status < 0) {
    self->peerGone(uv_strerror(status));
  } else if (!self->out_.empty()) {
    self->flush();
    return;
  }
  if (self->writes_in_flight_ == 0 && self->close_after_flush_) {
    self->closeSocket();
    return;
  }
  if (status >= 0) {
    self->outputDrained();
  }
}

std::size_t Session::outputBacklog() const {
  if (phase_ == Phase::Closed) {
    return 0;
  }
  // TLS records are written to the socket as they are made, so they are in its queue too.
  return out_.size() +
         uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&socket_->tcp));
}

bool Session::outputFull() const {
  return outputBacklog() >= limits_.max_output_buffer;
}

void Session::armIdleTimer() {
  if (idle_timer_ == nullptr || phase_ == Phase::Closed) {
    return;
  }
  int seconds = phase_ == Phase::Data || bdat_reading_ ? limits_.data_timeout_s
                                                       : limits_.inactivity_timeout_s;
  uv_timer_start(idle_timer_, onIdleTimeout, static_cast<std::uint64_t>(seconds) * 1000, 0);
}

void Session::onIdleTimeout(uv_timer_t* timer) {
  auto* self = static_cast<Session*>(timer->data);
  if (self == nullptr || self->phase_ == Phase::Closing || self->phase_ == Phase::Closed) {
    return;
  }
  log::info({self->logUuid(), ""}, "idle timeout in {}",
            self->phase_ == Phase::Data ? "DATA" : "command phase");
  if (self->hook_) {
    self->hook_->cancel();
    self->hook_.reset();
    self->busy_ = false;
  }
  self->reply(421, "4.4.2", {fmt::format("{} Error: timeout exceeded", self->env_.me)});
  self->startClose();
}

// ------------------------------------------------------------------------------------ input

void Session::processInput() {
  if (processing_) {
    return;
  }
  processing_ = true;
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
    if (bdat_reading_) {
      handleBdatBytes();
      if (bdat_reading_) {
        break; // waiting for more of the chunk
      }
      continue;
    }
    std::string_view pending(in_.data() + in_pos_, in_.size() - in_pos_);
    if (!tls_ && pending.size() >= 2 && pending[0] == '\x16' && pending[1] == '\x03') {
      // A TLS ClientHello where a command belongs: the client wants implicit TLS.
      in_pos_ = in_.size();
      reply(501, "5.5.1", {"SSL attempted over a non-SSL socket"});
      startClose();
      break;
    }
    auto lf = pending.find('\n');
    if (skip_to_line_end_) {
      // The rest of an over-long AUTH response: dropped up to its end.
      in_pos_ += lf == std::string_view::npos ? pending.size() : lf + 1;
      skip_to_line_end_ = lf == std::string_view::npos;
      continue;
    }
    // RFC 4954 4: AUTH responses may be up to 12288 octets, more than any command.
    bool in_auth = auth_step_ != AuthStep::None;
    std::size_t max_line =
        in_auth ? std::max<std::size_t>(limits_.max_line_length, 12288) : limits_.max_line_length;
    bool too_long = lf == std::string_view::npos ? pending.size() >= max_line : lf + 1 > max_line;
    if (too_long && in_auth) {
      endAuthExchange();
      refuse(500, "5.5.6", {"Authentication Exchange line is too long"});
      skip_to_line_end_ = true;
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
    if (after_data_bytes_ > 0) {
      // Sent together with the final dot, before our answer: Haraka 3.3 refuses each line.
      after_data_bytes_ = after_data_bytes_ > lf + 1 ? after_data_bytes_ - (lf + 1) : 0;
      refuse(503, "5.5.1", {"Bad sequence of commands - pipelined after end of DATA"});
      continue;
    }
    if (auth_step_ != AuthStep::None) {
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
  flush();
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

void Session::runHook(Hook hook, const HookParams& params, HookDone done) {
  busy_ = true;
  window_paused_ = true; // the client waits for us: not counted against its data rate
  // The runner may answer inline; `done` then runs (and may start the next hook) before run()
  // returns, so only a runner still waiting becomes hook_.
  auto finished = std::make_shared<bool>(false);
  auto runner =
      plugin::HookRunner::run(env_.loop, *hooks_, hook, *this, params, logUuid(),
                              [this, finished, done = std::move(done)](HookResult result) {
                                *finished = true;
                                hook_.reset();
                                busy_ = false;
                                done(std::move(result));
                                hookFinished();
                              });
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
  if (hook_) {
    hook_->cancel();
    hook_.reset();
    busy_ = false;
  }
  startClose();
}

void Session::shutdown() {
  shutting_down_ = true;
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
  uv_timer_stop(idle_timer_);
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
              early_talker_ ? "Y" : "N", esmtp_ ? "Y" : "N", tls_info_.enabled ? "Y" : "N", errors_,
              transaction_count_, rcpt_accepted_, msgs_accepted_,
              static_cast<double>(elapsed.count()) / 1000.0);
  if (tls_ && tls_->established() && !peer_gone_) {
    flush(); // the last replies go out before close_notify
    tls_->close();
  }
  close_after_flush_ = true;
  if (peer_gone_ || (out_.empty() && writes_in_flight_ == 0)) {
    closeSocket();
    return;
  }
  if (!processing_) {
    flush();
  }
  // The last replies get write_timeout to leave; a client that reads nothing is dropped then.
  if (phase_ != Phase::Closed && !write_stall_timer_.armed()) {
    write_stall_timer_.start(static_cast<std::uint64_t>(limits_.write_timeout_s) * 1000,
                             [this]() { onWriteStalled(); });
  }
}

void Session::closeSocket() {
  if (phase_ == Phase::Closed) {
    return;
  }
  phase_ = Phase::Closed;
  if (idle_timer_ != nullptr) {
    uv_timer_stop(idle_timer_);
  }
  write_stall_timer_.stop();
  line_deadline_.stop();
  data_deadline_.stop();
  data_rate_timer_.stop();
  socket_->owner = nullptr;
  auto* env = &env_;
  uv_close(reinterpret_cast<uv_handle_t*>(&socket_->tcp), [](uv_handle_t* h) {
    auto* socket = reinterpret_cast<Socket*>(h);
    delete socket;
  });
  // The worker deletes the session on a later loop turn.
  env->on_closed(this);
}

} // namespace upesi::smtp
