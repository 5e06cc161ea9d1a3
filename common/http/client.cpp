#include "common/http/client.hpp"

#include "common/net/transport.hpp"
#include "common/tls/tls_stream.hpp"
#include "common/util/loop_timer.hpp"

#include <fmt/format.h>

#include <cstring>

namespace upesi::http {

namespace {

// A field value from a connection (a HELO name, an address) must not end the field early.
std::string fieldText(std::string_view value) {
  std::string out(value);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') {
      c = ' ';
    }
  }
  return out;
}

} // namespace

std::string requestHead(const ClientRequest& request) {
  std::string head = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n", request.method,
                                 fieldText(request.target), fieldText(request.host));
  for (const auto& [name, value] : request.headers) {
    head += fmt::format("{}: {}\r\n", fieldText(name), fieldText(value));
  }
  if (request.body != nullptr || request.content_length > 0) {
    head += fmt::format("Content-Length: {}\r\n", request.content_length);
  }
  head += "Connection: close\r\n\r\n";
  return head;
}

class HttpExchange final : public net::TransportOwner,
                           public std::enable_shared_from_this<HttpExchange> {
public:
  HttpExchange(uv_loop_t* loop, ClientRequest request, ClientOptions options, ClientCallback done)
      : loop_(loop), request_(std::move(request)), options_(options), done_(std::move(done)),
        parser_(options.limits, request_.method == "HEAD"), connect_timer_(loop),
        deadline_timer_(loop) {}

  void start(const sockaddr* to) {
    std::memset(&address_, 0, sizeof(address_));
    std::memcpy(&address_, to,
                to->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    transport_ = std::make_unique<net::Transport>(
        loop_, *this, net::Transport::Options{options_.max_output, options_.request_timeout});
    // Alive until the socket has closed: the Transport may not be destroyed from inside its
    // own callbacks, where `done` runs.
    hold_ = shared_from_this();
    auto weak = weak_from_this();
    deadline_timer_.start(static_cast<std::uint64_t>(options_.request_timeout.count()), [weak] {
      if (auto self = weak.lock()) {
        self->fail(ClientFailure::Kind::Timeout,
                   fmt::format("no response within {} ms", self->options_.request_timeout.count()));
      }
    });
    connect_timer_.start(static_cast<std::uint64_t>(options_.connect_timeout.count()), [weak] {
      if (auto self = weak.lock()) {
        self->fail(
            ClientFailure::Kind::ConnectTimeout,
            fmt::format("no connection within {} ms", self->options_.connect_timeout.count()));
      }
    });
    if (int rc = transport_->connect(reinterpret_cast<const sockaddr*>(&address_)); rc < 0) {
      // Reported on a later turn, as every outcome is.
      error_at_start_ = uv_strerror(rc);
      connect_timer_.start(0, [weak] {
        if (auto self = weak.lock()) {
          self->fail(ClientFailure::Kind::Connect, self->error_at_start_);
        }
      });
    }
  }

  void cancel() {
    done_ = nullptr;
    stop();
  }

  // TransportOwner
  void transportConnected(int status) override {
    if (status != 0) {
      return fail(ClientFailure::Kind::Connect, uv_strerror(status));
    }
    connect_timer_.stop();
    if (options_.tls != nullptr) {
      auto channel = tls::TlsChannel::client(options_.tls, options_.tls_name, true);
      if (!channel) {
        return fail(ClientFailure::Kind::Tls, channel.error());
      }
      transport_->startTls(std::move(*channel)); // the head follows in transportSecured()
      return;
    }
    sendHead();
  }

  void transportSecured() override {
    const tls::TlsDetails details = transport_->tls()->details();
    if (!details.verified) {
      return fail(ClientFailure::Kind::Tls,
                  fmt::format("the certificate is not valid for \"{}\": {}", options_.tls_name,
                              details.peer_certificate ? details.verify_error
                                                       : "no certificate presented"));
    }
    sendHead();
  }

  void sendHead() {
    transport_->write(requestHead(request_));
    if (request_.body == nullptr) {
      body_done_ = true;
      return;
    }
    pump();
  }

  void transportDrained() override { pump(); }

  void transportClosed() override { hold_.reset(); }

  void transportReceived(std::string_view bytes) override {
    switch (parser_.feed(bytes)) {
    case ResponseParser::Result::NeedMore:
      return;
    case ResponseParser::Result::Complete:
      return succeed();
    case ResponseParser::Result::Failed:
      return fail(ClientFailure::Kind::BadResponse, parser_.error());
    }
  }

  void transportGone(const net::PeerGone& gone) override {
    if (gone.cause == net::PeerGone::Cause::Eof &&
        parser_.finish() == ResponseParser::Result::Complete) {
      return succeed();
    }
    if (gone.cause == net::PeerGone::Cause::Tls && options_.tls != nullptr &&
        !transport_->tlsEstablished()) {
      return fail(ClientFailure::Kind::Tls, gone.detail);
    }
    fail(ClientFailure::Kind::Network, gone.cause == net::PeerGone::Cause::Eof ? parser_.error()
                                       : gone.detail.empty() ? std::string("the connection stalled")
                                                             : gone.detail);
  }

private:
  // Reads the body into the socket while it takes it; sources may answer inline or later.
  void pump() {
    if (pumping_) {
      return;
    }
    pumping_ = true;
    while (!finished_ && !body_done_ && !awaiting_body_ && !transport_->outputFull()) {
      awaiting_body_ = true;
      auto weak = weak_from_this();
      request_.body->read(options_.body_chunk, [weak](Result<std::string_view> chunk) {
        if (auto self = weak.lock()) {
          self->bodyChunk(chunk);
        }
      });
    }
    pumping_ = false;
  }

  void bodyChunk(const Result<std::string_view>& chunk) {
    awaiting_body_ = false;
    if (finished_) {
      return;
    }
    if (!chunk) {
      return fail(ClientFailure::Kind::Body, chunk.error());
    }
    const std::uint64_t left = request_.content_length - body_sent_;
    if (chunk->empty() || chunk->size() > left) {
      if (chunk->empty() && left == 0) {
        body_done_ = true;
        return;
      }
      return fail(ClientFailure::Kind::Body,
                  fmt::format("the body source gave {} bytes where {} were announced",
                              chunk->empty() ? body_sent_ : body_sent_ + chunk->size(),
                              request_.content_length));
    }
    body_sent_ += chunk->size();
    transport_->write(*chunk);
    if (body_sent_ == request_.content_length) {
      body_done_ = true; // the source's final empty chunk is not awaited
      return;
    }
    pump();
  }

  void succeed() {
    if (finished_) {
      return;
    }
    ClientResult result;
    result.ok = true;
    result.response = parser_.take();
    finishWith(std::move(result));
  }

  void fail(ClientFailure::Kind kind, std::string detail) {
    if (finished_) {
      return;
    }
    ClientResult result;
    result.failure = {kind, std::move(detail)};
    finishWith(std::move(result));
  }

  void finishWith(ClientResult result) {
    stop();
    if (auto done = std::exchange(done_, nullptr)) {
      done(std::move(result));
    }
  }

  void stop() {
    finished_ = true;
    connect_timer_.stop();
    deadline_timer_.stop();
    if (transport_ != nullptr) {
      transport_->close();
    }
  }

  uv_loop_t* loop_;
  ClientRequest request_;
  ClientOptions options_;
  ClientCallback done_;
  ResponseParser parser_;
  LoopTimer connect_timer_;
  LoopTimer deadline_timer_;
  sockaddr_storage address_{};
  std::unique_ptr<net::Transport> transport_;
  std::shared_ptr<HttpExchange> hold_;
  std::string error_at_start_;
  std::uint64_t body_sent_ = 0;
  bool body_done_ = false;
  bool awaiting_body_ = false;
  bool pumping_ = false;
  bool finished_ = false;
};

void HttpRequestHandle::cancel() {
  if (exchange_ != nullptr) {
    exchange_->cancel();
    exchange_.reset();
  }
}

std::unique_ptr<HttpRequestHandle> sendHttpRequest(uv_loop_t* loop, const sockaddr* to,
                                                   ClientRequest request, ClientOptions options,
                                                   ClientCallback done) {
  auto exchange =
      std::make_shared<HttpExchange>(loop, std::move(request), options, std::move(done));
  exchange->start(to);
  return std::make_unique<HttpRequestHandle>(exchange);
}

} // namespace upesi::http
