#include "common/redis/link.hpp"

#include "common/log/logger.hpp"
#include "common/net/transport.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <unistd.h>
#include <utility>

namespace upesi::redis {

// A connection's TransportOwner. Retired by its link, it closes its socket and deletes itself
// once the socket is closed: the link never destroys a Transport inside its callbacks.
class RedisLink::Wire final : public net::TransportOwner {
public:
  Wire(RedisLink* link, uv_loop_t* loop, net::Transport::Options options, bool unix_socket)
      : link_(link),
        transport_(loop, *this, options,
                   unix_socket ? net::Transport::Kind::Pipe : net::Transport::Kind::Tcp) {}

  net::Transport& transport() { return transport_; }

  void retire() {
    link_ = nullptr;
    transport_.close();
  }

  void transportConnected(int status) override {
    if (link_ != nullptr) {
      link_->connected(status);
    }
  }
  void transportReceived(std::string_view bytes) override {
    if (link_ != nullptr) {
      link_->received(bytes);
    }
  }
  void transportGone(const net::PeerGone& gone) override {
    if (link_ == nullptr) {
      return;
    }
    switch (gone.cause) {
    case net::PeerGone::Cause::Eof:
      return link_->gone("the server closed the connection");
    case net::PeerGone::Cause::Stalled:
      return link_->gone("the server stopped reading");
    default:
      return link_->gone(gone.detail);
    }
  }
  void transportClosed() override { delete this; }

private:
  RedisLink* link_;
  net::Transport transport_;
};

namespace {

std::chrono::milliseconds withJitter(std::chrono::milliseconds delay) {
  // Workers that lost Redis together do not all come back in the same millisecond.
  thread_local std::minstd_rand random(static_cast<unsigned>(::getpid()) ^
                                       static_cast<unsigned>(uv_hrtime()));
  const auto spread = std::max<long long>(1, delay.count() / 4);
  return delay + std::chrono::milliseconds(static_cast<long long>(random() % spread));
}

} // namespace

RedisLink::RedisLink(uv_loop_t* loop, LinkOptions options, LinkEvents& events)
    : loop_(loop), options_(std::move(options)), events_(events), backoff_(options_.backoff_min),
      connect_timer_(loop), retry_timer_(loop) {}

RedisLink::~RedisLink() {
  state_ = State::Stopped;
  retire();
}

void RedisLink::start() {
  if (state_ != State::Idle && state_ != State::Stopped) {
    return;
  }
  state_ = State::Waiting;
  retry_timer_.start(0, [this] { connect(); });
}

void RedisLink::stop() {
  state_ = State::Stopped;
  connect_timer_.stop();
  retry_timer_.stop();
  retire();
}

void RedisLink::retire() {
  if (wire_ != nullptr) {
    std::exchange(wire_, nullptr)->retire();
  }
  reader_.reset();
}

void RedisLink::connect() {
  state_ = State::Connecting;
  reader_ = std::make_unique<ReplyReader>(options_.limits);
  const auto& endpoint = options_.endpoint;
  const bool unix_socket = !endpoint.socket_path.empty();
  wire_ =
      new Wire(this, loop_, net::Transport::Options{options_.max_output, options_.write_timeout},
               unix_socket);
  // One deadline for the connection and the handshake: a server that accepts and then says
  // nothing is as down as one that refuses.
  connect_timer_.start(static_cast<std::uint64_t>(options_.connect_timeout.count()), [this] {
    fail(fmt::format("no answer within {} ms of connecting", options_.connect_timeout.count()));
  });
  int rc = 0;
  if (unix_socket) {
    rc = wire_->transport().connectPipe(endpoint.socket_path);
  } else {
    sockaddr_storage address{};
    rc = endpoint.host.find(':') == std::string::npos
             ? uv_ip4_addr(endpoint.host.c_str(), endpoint.port,
                           reinterpret_cast<sockaddr_in*>(&address))
             : uv_ip6_addr(endpoint.host.c_str(), endpoint.port,
                           reinterpret_cast<sockaddr_in6*>(&address));
    if (rc == 0) {
      rc = wire_->transport().connect(reinterpret_cast<const sockaddr*>(&address));
    }
  }
  if (rc != 0) {
    const std::string why = uv_strerror(rc);
    connect_timer_.start(0, [this, why] { fail(why); }); // reported from the loop, as always
  }
}

void RedisLink::connected(int status) {
  if (status != 0) {
    return fail(uv_strerror(status));
  }
  state_ = State::Handshake;
  handshake_.clear();
  handshake_answered_ = 0;
  const auto& endpoint = options_.endpoint;
  std::string bytes;
  if (!endpoint.password.empty()) {
    handshake_.push_back("AUTH");
    bytes += endpoint.username.empty()
                 ? encodeCommand({"AUTH", endpoint.password})
                 : encodeCommand({"AUTH", endpoint.username, endpoint.password});
  }
  if (options_.select_db && endpoint.db != 0) {
    handshake_.push_back("SELECT");
    bytes += encodeCommand({"SELECT", std::to_string(endpoint.db)});
  }
  handshake_.push_back("PING");
  bytes += encodeCommand({"PING"});
  wire_->transport().write(std::move(bytes));
}

void RedisLink::received(std::string_view bytes) {
  Wire* const wire = wire_;
  if (!reader_->feed(bytes)) {
    return fail("protocol error: " + reader_->error());
  }
  while (wire_ == wire && (state_ == State::Handshake || state_ == State::Up)) {
    auto reply = reader_->next();
    if (!reply) {
      if (reader_->failed()) {
        fail("protocol error: " + reader_->error());
      }
      return;
    }
    if (state_ == State::Handshake) {
      handshakeReply(*reply);
    } else {
      events_.linkReply(std::move(*reply)); // may drop or stop the link
    }
  }
}

void RedisLink::handshakeReply(const Reply& reply) {
  const char* step = handshake_[handshake_answered_++];
  if (reply.isError()) {
    return fail(fmt::format("{} refused: {}", step, reply.text));
  }
  if (handshake_answered_ < handshake_.size()) {
    return;
  }
  if (!reply.is("PONG")) {
    return fail("PING answered " + reply.describe());
  }
  connect_timer_.stop();
  state_ = State::Up;
  const log::Context context{{}, options_.label};
  if (failures_ > 0) {
    log::notice(context, "connected to {} again, {} ms and {} failed attempts after the outage",
                options_.endpoint.describe(), uv_now(loop_) - down_since_, failures_);
  } else {
    log::info(context, "connected to {}", options_.endpoint.describe());
  }
  failures_ = 0;
  backoff_ = options_.backoff_min;
  events_.linkUp();
}

void RedisLink::gone(std::string why) {
  fail(std::move(why));
}

void RedisLink::drop(std::string why) {
  if (state_ == State::Up || state_ == State::Handshake || state_ == State::Connecting) {
    fail(std::move(why));
  }
}

void RedisLink::fail(std::string why) {
  if (state_ == State::Stopped || state_ == State::Waiting || state_ == State::Idle) {
    return;
  }
  retire();
  connect_timer_.stop();
  state_ = State::Waiting;
  const auto delay = withJitter(backoff_);
  backoff_ = std::min(backoff_ * 2, options_.backoff_max);
  const log::Context context{{}, options_.label};
  if (failures_++ == 0) {
    down_since_ = uv_now(loop_);
    // Once per outage; the attempts that follow are at debug level.
    log::error(context, "{}: {}; reconnecting until it answers", options_.endpoint.describe(), why);
  } else {
    log::debug(context, "{}: attempt {} failed: {}; next in {} ms", options_.endpoint.describe(),
               failures_, why, delay.count());
  }
  retry_timer_.start(static_cast<std::uint64_t>(delay.count()), [this] { connect(); });
  events_.linkDown(why);
}

void RedisLink::send(std::string bytes) {
  if (state_ == State::Up && wire_ != nullptr) {
    wire_->transport().write(std::move(bytes));
  }
}

} // namespace upesi::redis
