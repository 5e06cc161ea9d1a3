#include "common/net/transport.hpp"

#include "common/tls/tls_stream.hpp"

#include <fmt/format.h>

#include <cassert>
#include <cstddef>
#include <utility>

namespace upesi::net {

namespace {

// How long the read side has to report the end after a write failed.
constexpr std::uint64_t ReadAfterWriteFailureMs = 1000;

// Counts the calls on a Transport in progress, so a failure found inside one is reported later.
class CallScope {
public:
  explicit CallScope(int& depth) : depth_(depth) { ++depth_; }
  ~CallScope() { --depth_; }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

private:
  int& depth_;
};

} // namespace

struct Transport::Socket {
  union { // first: the handle's address is the Socket's
    uv_tcp_t tcp;
    uv_pipe_t pipe; // Kind::Pipe: a unix socket
  };
  bool is_pipe = false;
  Transport* transport = nullptr;    // null once the Transport is destroyed
  TransportOwner* closing = nullptr; // told from the close callback
};

struct Transport::WriteRequest {
  uv_write_t req{};
  std::string data;
  Socket* socket = nullptr; // outlives the request: write callbacks precede the close callback
};

Transport::Transport(uv_loop_t* loop, TransportOwner& owner, Options options, Kind kind)
    : loop_(loop), owner_(&owner), options_(options), socket_(new Socket{}), stall_timer_(loop),
      report_timer_(loop) {
  socket_->is_pipe = kind == Kind::Pipe;
  const int rc =
      socket_->is_pipe ? uv_pipe_init(loop_, &socket_->pipe, 0) : uv_tcp_init(loop_, &socket_->tcp);
  assert(rc == 0);
  (void)rc;
  socket_->tcp.data = socket_;
  socket_->transport = this;
}

Transport::Transport(uv_loop_t* loop, uv_tcp_t* accepted, TransportOwner& owner, Options options)
    : loop_(loop), owner_(&owner), options_(options), socket_(reinterpret_cast<Socket*>(accepted)),
      connected_(true), stall_timer_(loop), report_timer_(loop) {
  socket_->tcp.data = socket_;
  socket_->transport = this;
}

Transport::~Transport() {
  owner_ = nullptr;
  if (socket_ == nullptr) {
    return;
  }
  socket_->transport = nullptr;
  socket_->closing = nullptr;
  if (!handle_closing_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&socket_->tcp), onClosed);
  }
}

uv_tcp_t* Transport::newSocket(uv_loop_t* loop) {
  static_assert(offsetof(Socket, tcp) == 0, "the tcp handle must come first");
  auto* socket = new Socket{};
  const int rc = uv_tcp_init(loop, &socket->tcp);
  assert(rc == 0);
  (void)rc;
  socket->tcp.data = socket;
  return &socket->tcp;
}

void Transport::discardSocket(uv_tcp_t* tcp) {
  uv_close(reinterpret_cast<uv_handle_t*>(tcp), onClosed);
}

const uv_tcp_t* Transport::tcp() const {
  return socket_ != nullptr && !socket_->is_pipe ? &socket_->tcp : nullptr;
}

bool Transport::tlsEstablished() const {
  return tls_ && tls_->established();
}

// ------------------------------------------------------------------------------- connecting

int Transport::bind(const sockaddr* from) {
  assert(state_ == State::Open && !connected_ && !connecting_ && !socket_->is_pipe);
  return uv_tcp_bind(&socket_->tcp, from, 0);
}

int Transport::connect(const sockaddr* to) {
  assert(state_ == State::Open && !connected_ && !connecting_ && !socket_->is_pipe);
  auto* req = new uv_connect_t{};
  req->data = socket_;
  if (const int rc = uv_tcp_connect(req, &socket_->tcp, to, onConnect); rc < 0) {
    delete req;
    return rc;
  }
  connecting_ = true;
  return 0;
}

int Transport::connectPipe(const std::string& path) {
  assert(state_ == State::Open && !connected_ && !connecting_ && socket_->is_pipe);
  auto* req = new uv_connect_t{};
  req->data = socket_;
  // uv_pipe_connect reports every error, a bad path too, through the callback.
  uv_pipe_connect(req, &socket_->pipe, path.c_str(), onConnect);
  connecting_ = true;
  return 0;
}

void Transport::onConnect(uv_connect_t* req, int status) {
  auto* socket = static_cast<Socket*>(req->data);
  delete req;
  Transport* self = socket->transport;
  if (self == nullptr || self->owner_ == nullptr || status == UV_ECANCELED) {
    return; // closed while connecting
  }
  self->connecting_ = false;
  if (status == 0) {
    self->connected_ = true;
    self->started_ = true;
    if (!socket->is_pipe) {
      uv_tcp_nodelay(&socket->tcp, 1);
    }
    self->updateReading();
  }
  self->owner_->transportConnected(status);
}

// ---------------------------------------------------------------------------------- reading

void Transport::start() {
  started_ = true;
  updateReading();
}

void Transport::setReading(bool wanted) {
  wanted_ = wanted;
  updateReading();
}

void Transport::updateReading() {
  if (socket_ == nullptr || handle_closing_) {
    reading_ = false;
    return;
  }
  const bool want = state_ == State::Open && !gone_ && connected_ && started_ && wanted_ &&
                    (write_failed_ || !outputFull());
  auto* stream = reinterpret_cast<uv_stream_t*>(&socket_->tcp);
  if (want && !reading_) {
    reading_ = uv_read_start(stream, onAlloc, onRead) == 0;
  } else if (!want && reading_) {
    uv_read_stop(stream);
    reading_ = false;
  }
}

void Transport::onAlloc(uv_handle_t* /*handle*/, std::size_t /*suggested*/, uv_buf_t* buf) {
  // One buffer for every transport of the thread: read callbacks consume it before returning.
  static thread_local char buffer[64 * 1024];
  *buf = uv_buf_init(buffer, sizeof buffer);
}

void Transport::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* socket = static_cast<Socket*>(stream->data);
  Transport* self = socket->transport;
  if (self == nullptr || self->owner_ == nullptr || self->state_ != State::Open) {
    return;
  }
  if (nread > 0) {
    self->readBytes(std::string_view(buf->base, static_cast<std::size_t>(nread)));
  } else if (nread == UV_EOF) {
    self->fail({PeerGone::Cause::Eof, {}});
  } else if (nread < 0) {
    self->fail({PeerGone::Cause::Error, uv_strerror(static_cast<int>(nread))});
  }
}

void Transport::readBytes(std::string_view bytes) {
  if (tls_) {
    tls_->received(bytes); // the plaintext comes back through the stream's callback
  } else {
    owner_->transportReceived(bytes);
  }
}

// ---------------------------------------------------------------------------------------- TLS

void Transport::startTls(std::unique_ptr<tls::TlsChannel> channel, std::string_view first_bytes) {
  assert(!tls_);
  CallScope scope(calls_);
  tls::TlsStream::Callbacks callbacks;
  callbacks.send = [this](std::string ciphertext) { writeSocket(std::move(ciphertext)); };
  callbacks.established = [this]() {
    if (owner_ == nullptr || state_ != State::Open || gone_) {
      return;
    }
    if (!held_plaintext_.empty()) {
      send(std::exchange(held_plaintext_, {}));
    }
    owner_->transportSecured();
  };
  callbacks.plaintext = [this](std::string_view plaintext) {
    if (owner_ != nullptr && state_ == State::Open && !gone_) {
      owner_->transportReceived(plaintext);
    }
  };
  callbacks.failed = [this](const std::string& why) { fail({PeerGone::Cause::Tls, why}); };
  tls_ = std::make_unique<tls::TlsStream>(loop_, std::move(channel), std::move(callbacks));
  tls_->start();
  if (!first_bytes.empty() && tls_ && !gone_) {
    // A ClientHello cannot finish a handshake: this answers it, or fails (reported later).
    tls_->received(first_bytes);
  }
}

// ---------------------------------------------------------------------------------- writing

void Transport::write(std::string_view bytes) {
  if (state_ != State::Open || gone_ || write_failed_ || bytes.empty()) {
    return;
  }
  if (corked_) {
    corked_output_.append(bytes);
    updateReading();
    return;
  }
  write(std::string(bytes));
}

void Transport::write(std::string&& bytes) {
  if (state_ != State::Open || gone_ || write_failed_ || bytes.empty()) {
    return;
  }
  if (corked_) {
    if (corked_output_.empty()) {
      corked_output_ = std::move(bytes);
    } else {
      corked_output_.append(bytes);
    }
    updateReading();
    return;
  }
  CallScope scope(calls_);
  send(std::move(bytes));
  updateReading();
}

void Transport::uncork() {
  corked_ = false;
  flush();
}

void Transport::flush() {
  if (corked_output_.empty() || state_ != State::Open || gone_) {
    return;
  }
  CallScope scope(calls_);
  send(std::exchange(corked_output_, {}));
  updateReading(); // what was corked may have left at once
}

void Transport::send(std::string bytes) {
  if (!tls_) {
    writeSocket(std::move(bytes));
  } else if (!tls_->established()) {
    held_plaintext_ += bytes; // counted in backlog(), so bounded by the reading pause
  } else {
    tls_->send(bytes); // the ciphertext comes back through writeSocket()
  }
}

void Transport::writeSocket(std::string bytes) {
  if (bytes.empty() || handle_closing_ || gone_) {
    return;
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(&socket_->tcp);
  if (writes_in_flight_ == 0 || closing_now_) {
    // Most writes fit in the socket buffer: sent now, without a request.
    uv_buf_t buf = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
    const int n = uv_try_write(stream, &buf, 1);
    if (closing_now_ || n == static_cast<int>(bytes.size())) {
      return;
    }
    if (n > 0) {
      bytes.erase(0, static_cast<std::size_t>(n));
    }
  }
  auto* request = new WriteRequest{};
  request->data = std::move(bytes);
  request->socket = socket_;
  request->req.data = request;
  uv_buf_t buf = uv_buf_init(request->data.data(), static_cast<unsigned>(request->data.size()));
  if (const int rc = uv_write(&request->req, stream, &buf, 1, onWrite); rc != 0) {
    delete request;
    fail({PeerGone::Cause::Error, uv_strerror(rc)});
    return;
  }
  ++writes_in_flight_;
  if (outputFull()) {
    updateReading();
    watchStall();
  }
}

void Transport::onWrite(uv_write_t* req, int status) {
  std::unique_ptr<WriteRequest> request(static_cast<WriteRequest*>(req->data));
  if (Transport* self = request->socket->transport; self != nullptr) {
    self->wrote(status);
  }
}

void Transport::wrote(int status) {
  --writes_in_flight_;
  if (status == UV_ECANCELED || handle_closing_) {
    return;
  }
  if (state_ == State::Closing) {
    // closeAfterFlush(): the socket closes when the last write is done, or fails.
    if (status < 0 || writes_in_flight_ == 0) {
      closeSocket();
    }
    return;
  }
  if (status < 0) {
    writeFailed({PeerGone::Cause::Error, uv_strerror(status)});
    return;
  }
  if (outputFull()) {
    return;
  }
  stall_timer_.stop();
  updateReading();
  if (owner_ != nullptr) {
    owner_->transportDrained();
  }
}

std::size_t Transport::backlog() const {
  if (socket_ == nullptr || handle_closing_) {
    return 0;
  }
  // TLS records are written to the socket as they are made, so they are in its queue too.
  return corked_output_.size() + held_plaintext_.size() +
         uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&socket_->tcp));
}

bool Transport::outputFull() const {
  return options_.max_output > 0 && backlog() >= options_.max_output;
}

void Transport::watchStall() {
  if (options_.write_timeout.count() <= 0 || stall_timer_.armed()) {
    return;
  }
  stall_timer_.start(static_cast<std::uint64_t>(options_.write_timeout.count()), [this]() {
    const auto ms = options_.write_timeout.count();
    fail({PeerGone::Cause::Stalled,
          ms % 1000 == 0 ? fmt::format("{} bytes unsent for {} s", backlog(), ms / 1000)
                         : fmt::format("{} bytes unsent for {} ms", backlog(), ms)});
  });
}

// ---------------------------------------------------------------------------------- failure

// A peer may answer and close while we are still sending: clamd past StreamMaxLength, an HTTP
// server refusing an upload. Its answer is in the socket before the reset; read it, and let the
// read side report the end, or the write error if it says nothing soon.
void Transport::writeFailed(PeerGone gone) {
  if (gone_ || write_failed_) {
    return;
  }
  write_failed_ = true;
  corked_output_.clear();
  held_plaintext_.clear();
  updateReading();
  if (!reading_) {
    return fail(std::move(gone));
  }
  stall_timer_.start(ReadAfterWriteFailureMs, [this, gone = std::move(gone)]() { fail(gone); });
}

void Transport::fail(PeerGone gone) {
  if (gone_ || handle_closing_) {
    return;
  }
  gone_ = true;
  stall_timer_.stop();
  updateReading();
  corked_output_.clear();
  held_plaintext_.clear();
  if (state_ == State::Closing) {
    closeSocket(); // the owner is done with the peer already
    return;
  }
  if (calls_ > 0) {
    // Found inside a call on the Transport: the owner hears of it from the loop.
    report_timer_.start(0, [this, gone = std::move(gone)]() {
      if (owner_ != nullptr && state_ == State::Open) {
        owner_->transportGone(gone);
      }
    });
    return;
  }
  if (owner_ != nullptr) {
    owner_->transportGone(gone);
  }
}

// ---------------------------------------------------------------------------------- closing

void Transport::closeAfterFlush() {
  if (state_ != State::Open) {
    return;
  }
  CallScope scope(calls_);
  state_ = State::Closing;
  updateReading();
  report_timer_.stop();
  if (gone_ || !connected_) {
    closeSocket();
    return;
  }
  if (tls_ && !tls_->established()) {
    corked_output_.clear(); // nothing can be said mid-handshake
    held_plaintext_.clear();
  } else if (!corked_output_.empty()) {
    send(std::exchange(corked_output_, {}));
  }
  if (tls_ && tls_->established()) {
    tls_->close(); // close_notify after the last bytes
  }
  if (handle_closing_) {
    return; // a write failed on the way
  }
  if (writes_in_flight_ == 0) {
    closeSocket();
    return;
  }
  if (options_.write_timeout.count() > 0) {
    // The last bytes get write_timeout to leave; a peer that reads nothing is dropped then.
    stall_timer_.start(static_cast<std::uint64_t>(options_.write_timeout.count()),
                       [this]() { closeSocket(); });
  }
}

void Transport::close(std::string_view parting) {
  if (handle_closing_) {
    return;
  }
  CallScope scope(calls_);
  const bool can_part = state_ == State::Open && !parting.empty() && !gone_ && connected_ &&
                        writes_in_flight_ == 0 && corked_output_.empty() &&
                        (!tls_ || tls_->established());
  state_ = State::Closing;
  if (can_part) {
    closing_now_ = true; // each write is tried once; what the socket refuses is dropped
    if (tls_) {
      tls_->send(parting);
      tls_->close();
    } else {
      writeSocket(std::string(parting));
    }
  }
  closeSocket();
}

void Transport::closeSocket() {
  if (handle_closing_ || socket_ == nullptr) {
    return;
  }
  handle_closing_ = true;
  state_ = State::Closing;
  reading_ = false;
  stall_timer_.close(); // closed with the socket: the Transport may outlive the loop's last walk
  report_timer_.close();
  corked_output_.clear();
  held_plaintext_.clear();
  // The owner hears nothing more but transportClosed(), from the close callback.
  socket_->closing = std::exchange(owner_, nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&socket_->tcp), onClosed);
}

void Transport::onClosed(uv_handle_t* handle) {
  auto* socket = reinterpret_cast<Socket*>(handle);
  TransportOwner* owner = socket->closing;
  if (Transport* self = socket->transport; self != nullptr) {
    self->socket_ = nullptr;
    self->state_ = State::Closed;
  } else {
    owner = nullptr; // the Transport was destroyed: its owner asked for silence
  }
  delete socket;
  if (owner != nullptr) {
    owner->transportClosed(); // last: the owner may delete itself and the Transport here
  }
}

} // namespace upesi::net
