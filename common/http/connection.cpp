#include "common/http/connection.hpp"

#include <utility>

namespace upesi::http {

Responder::~Responder() {
  if (auto connection = connection_.lock()) {
    connection->abandoned(sequence_);
  }
}

void Responder::respond(Response response) {
  if (auto connection = std::exchange(connection_, {}).lock()) {
    connection->answer(sequence_, std::move(response));
  }
}

void Responder::begin(Response head) {
  if (auto connection = connection_.lock()) {
    connection->beginStream(sequence_, std::move(head));
  }
}

bool Responder::write(std::string_view piece) {
  auto connection = connection_.lock();
  return connection && connection->writeStream(sequence_, piece);
}

void Responder::end() {
  if (auto connection = std::exchange(connection_, {}).lock()) {
    connection->endStream(sequence_);
  }
}

void Responder::upgrade(Response switching, std::shared_ptr<UpgradedProtocol> protocol) {
  if (auto connection = std::exchange(connection_, {}).lock()) {
    connection->upgrade(sequence_, std::move(switching), std::move(protocol));
  }
}

bool Responder::open() const {
  auto connection = connection_.lock();
  return connection && !connection->closing();
}

HttpConnection::HttpConnection(uv_loop_t* loop, uv_tcp_t* accepted, ConnectionLimits limits,
                               Handler handler, Closed closed)
    : limits_(limits), handler_(std::move(handler)), closed_(std::move(closed)),
      transport_(loop, accepted, static_cast<net::TransportOwner&>(*this),
                 net::Transport::Options{.max_output = limits.max_output,
                                         .write_timeout = limits.write_timeout}),
      parser_(limits.request), deadline_(loop) {}

HttpConnection::~HttpConnection() = default;

void HttpConnection::start() {
  transport_.start();
  armDeadline();
}

void HttpConnection::shutdown() {
  shutting_down_ = true;
  if (upgraded_ && !closing_) {
    upgraded_->shutdown();
    return;
  }
  if (!answering_ && !closing_) {
    closing_ = true;
    deadline_.stop();
    transport_.closeAfterFlush();
  }
}

void HttpConnection::armDeadline() {
  if (closing_ || answering_ || upgraded_) {
    return;
  }
  if (parser_.inRequest()) {
    // Armed once when the request begins: a client trickling bytes does not extend it.
    if (!request_deadline_) {
      request_deadline_ = true;
      deadline_.start(static_cast<std::uint64_t>(limits_.request_timeout.count()),
                      [this] { fail(408, "the request was not complete in time"); });
    }
    return;
  }
  request_deadline_ = false;
  deadline_.start(static_cast<std::uint64_t>(limits_.idle_timeout.count()), [this] {
    closing_ = true; // idle: closed without a word, as HTTP servers do
    transport_.closeAfterFlush();
  });
}

void HttpConnection::transportReceived(std::string_view bytes) {
  if (closing_) {
    return;
  }
  if (upgraded_) {
    upgraded_->received(bytes);
    return;
  }
  in_.append(bytes);
  processInput();
}

void HttpConnection::processInput() {
  if (processing_) {
    return; // answered from inside the handler: the loop below goes on
  }
  processing_ = true;
  while (!answering_ && !closing_ && !in_.empty()) {
    std::size_t consumed = 0;
    const auto result = parser_.feed(in_, consumed);
    in_.erase(0, consumed);
    if (result == RequestParser::Result::Failed) {
      fail(parser_.failure().status, parser_.failure().reason);
      break;
    }
    if (result == RequestParser::Result::NeedMore) {
      break;
    }
    Request request = parser_.take();
    ++requests_;
    keep_alive_ = request.keep_alive && !request.upgrade && requests_ < limits_.max_requests;
    head_ = request.method == "HEAD";
    http10_ = request.version_major == 1 && request.version_minor == 0;
    answering_ = true;
    deadline_.stop();
    request_deadline_ = false;
    // While a request is answered, reading stops: pipelined requests wait in the socket.
    transport_.setReading(false);
    handler_(request, Responder(weak_from_this(), ++sequence_));
  }
  processing_ = false;
  armDeadline();
}

void HttpConnection::answer(std::uint64_t sequence, Response response) {
  if (sequence != sequence_ || !answering_ || streaming_ || closing_) {
    return;
  }
  answeredWith(response.status);
  transport_.write(serialize(response, !keep_alive_ || shutting_down_, head_));
  answered();
}

void HttpConnection::answered() {
  answering_ = false;
  streaming_ = false;
  if (!keep_alive_ || shutting_down_) {
    closing_ = true;
    deadline_.stop();
    transport_.closeAfterFlush();
    return;
  }
  transport_.setReading(true);
  processInput(); // a pipelined request may be here already
}

void HttpConnection::beginStream(std::uint64_t sequence, Response head) {
  if (sequence != sequence_ || !answering_ || streaming_ || closing_) {
    return;
  }
  streaming_ = true;
  // An HTTP/1.0 client knows no chunks: its stream ends with the connection.
  chunked_ = !http10_;
  if (!chunked_) {
    keep_alive_ = false;
  }
  answeredWith(head.status);
  transport_.write(serializeStreamHead(head, !keep_alive_ || shutting_down_, chunked_));
  if (head_) {
    answered(); // HEAD: the head is all
  }
}

bool HttpConnection::writeStream(std::uint64_t sequence, std::string_view piece) {
  if (sequence != sequence_ || !streaming_ || closing_ || transport_.outputFull()) {
    return false;
  }
  transport_.write(chunked_ ? chunk(piece) : std::string(piece));
  return true;
}

void HttpConnection::endStream(std::uint64_t sequence) {
  if (sequence != sequence_ || !streaming_ || closing_) {
    return;
  }
  if (chunked_) {
    transport_.write(LastChunk);
  }
  answered();
}

void HttpConnection::abandoned(std::uint64_t sequence) {
  if (streaming_) {
    endStream(sequence);
  } else {
    answer(sequence, Response::text(500, "500 the handler gave no answer\n"));
  }
}

void HttpConnection::upgrade(std::uint64_t sequence, Response switching,
                             std::shared_ptr<UpgradedProtocol> protocol) {
  if (sequence != sequence_ || !answering_ || streaming_ || closing_) {
    return;
  }
  answering_ = false;
  upgraded_ = std::move(protocol);
  deadline_.stop();
  answeredWith(switching.status);
  transport_.write(serialize(switching, false));
  upgraded_->attached(weak_from_this()); // it may speak at once: the 101 is out first
  transport_.setReading(true);
  if (!in_.empty() && upgraded_) {
    // Sent right behind the request, before the 101 was seen.
    std::string early = std::exchange(in_, {});
    upgraded_->received(early);
  }
}

bool HttpConnection::sendUpgraded(std::string bytes, bool droppable) {
  if (closing_ || (droppable && transport_.outputFull())) {
    return false;
  }
  transport_.write(std::move(bytes));
  return true;
}

void HttpConnection::closeUpgraded() {
  if (!closing_) {
    closing_ = true;
    transport_.closeAfterFlush();
  }
}

void HttpConnection::fail(int status, const std::string& reason) {
  if (closing_) {
    return;
  }
  closing_ = true;
  answering_ = false;
  streaming_ = false;
  deadline_.stop();
  answeredWith(status);
  transport_.write(
      serialize(Response::text(status, std::to_string(status) + " " + reason + "\n"), true));
  transport_.closeAfterFlush();
}

void HttpConnection::transportGone(const net::PeerGone& /*gone*/) {
  closing_ = true;
  deadline_.stop();
  transport_.closeAfterFlush(); // the peer is gone: closes at once
}

void HttpConnection::transportClosed() {
  deadline_.close();
  if (auto upgraded = std::move(upgraded_)) {
    upgraded->gone();
  }
  auto closed = std::move(closed_);
  if (closed) {
    closed(*this); // may destroy this connection
  }
}

} // namespace upesi::http
