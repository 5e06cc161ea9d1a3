#include "plugins/milter/filter_connection.hpp"

#include <fmt/format.h>

namespace upesi::plugins::milter {

using upesi::milter::Packet;

namespace {

std::uint64_t millis(std::chrono::milliseconds ms) {
  return ms.count() <= 0 ? 1 : static_cast<std::uint64_t>(ms.count());
}

std::string connectError(int status) {
  if (status == UV_ECONNREFUSED) {
    return "connection refused";
  }
  return fmt::format("connect failed: {}", uv_strerror(status));
}

} // namespace

std::shared_ptr<FilterConnection> FilterConnection::create(uv_loop_t* loop) {
  std::shared_ptr<FilterConnection> connection(new FilterConnection(loop));
  connection->self_ = connection;
  return connection;
}

FilterConnection::FilterConnection(uv_loop_t* loop)
    : loop_(loop), timer_(loop), report_timer_(loop) {
  transport_ = std::make_unique<net::Transport>(loop_, *this, net::Transport::Options{});
}

FilterConnection::~FilterConnection() = default;

void FilterConnection::connect(const FilterSocket& socket, std::chrono::milliseconds timeout,
                               Connected done) {
  connected_done_ = std::move(done);
  if (socket.unix_path) {
    transport_ = std::make_unique<net::Transport>(loop_, *this, net::Transport::Options{},
                                                  net::Transport::Kind::Pipe);
    transport_->connectPipe(socket.path);
    timer_.start(millis(timeout), [this] { fail("timeout connecting"); });
    return;
  }
  sockaddr_storage address{};
  int rc =
      socket.ip.find(':') != std::string::npos
          ? uv_ip6_addr(socket.ip.c_str(), socket.port, reinterpret_cast<sockaddr_in6*>(&address))
          : uv_ip4_addr(socket.ip.c_str(), socket.port, reinterpret_cast<sockaddr_in*>(&address));
  if (rc == 0) {
    rc = transport_->connect(reinterpret_cast<const sockaddr*>(&address));
  }
  if (rc != 0) {
    failSoon(connectError(rc));
    return;
  }
  timer_.start(millis(timeout), [this] { fail("timeout connecting"); });
}

void FilterConnection::transportConnected(int status) {
  timer_.stop();
  if (status < 0) {
    fail(connectError(status));
    return;
  }
  connected_ = true;
  if (auto done = std::move(connected_done_)) {
    connected_done_ = nullptr;
    done({});
  }
}

void FilterConnection::send(std::string bytes) {
  if (!closing_) {
    transport_->write(std::move(bytes));
  }
}

void FilterConnection::exchange(std::string bytes, std::chrono::milliseconds timeout,
                                PacketHandler handler, Failed failed) {
  if (closing_ || !connected_) {
    // fail() is over for a closed connection (the filter went away between commands): this
    // exchange's failure is told directly.
    report_timer_.start(0, [failed = std::move(failed)] {
      if (failed) {
        failed("the connection to the filter is closed");
      }
    });
    return;
  }
  ++exchanges_;
  handler_ = std::move(handler);
  failed_ = std::move(failed);
  exchange_timeout_ = timeout;
  transport_->write(std::move(bytes));
  timer_.start(millis(timeout), [this] { fail("timeout waiting for the filter's reply"); });
}

void FilterConnection::idle(std::chrono::milliseconds timeout, std::function<void()> lost) {
  lost_ = std::move(lost);
  timer_.start(millis(timeout), [this] {
    auto expired = std::move(lost_);
    lost_ = nullptr;
    close();
    if (expired) {
      expired();
    }
  });
}

void FilterConnection::endIdle() {
  lost_ = nullptr;
  timer_.stop();
}

bool FilterConnection::ready() const {
  return connected_ && !closing_ && !handler_ && transport_->state() == net::Transport::State::Open;
}

void FilterConnection::transportReceived(std::string_view bytes) {
  auto keep = shared_from_this();
  if (closing_) {
    return;
  }
  if (!handler_) {
    // Nothing is asked: a filter that talks now is out of step (or closing an idle connection).
    fail(lost_ ? "unexpected bytes from an idle filter" : "reply to no command");
    return;
  }
  if (!reader_.feed(bytes)) {
    fail("broken packet: " + reader_.error());
    return;
  }
  while (handler_ && !closing_) {
    auto packet = reader_.next();
    if (!packet) {
      break;
    }
    if (packet->command == upesi::milter::reply::Progress && packet->data.empty()) {
      timer_.start(millis(exchange_timeout_),
                   [this] { fail("timeout waiting for the filter's reply"); });
      continue;
    }
    auto handler = handler_; // it may start the next exchange, or close
    const std::uint64_t exchange = exchanges_;
    if (handler(std::move(*packet)) && exchange == exchanges_ && !closing_) {
      handler_ = nullptr;
      failed_ = nullptr;
      timer_.stop();
    }
  }
  if (!closing_ && !handler_ && (reader_.pending() != 0 || reader_.next())) {
    fail("reply to no command");
  }
}

void FilterConnection::transportGone(const net::PeerGone& gone) {
  auto keep = shared_from_this();
  switch (gone.cause) {
  case net::PeerGone::Cause::Eof:
    fail("the filter closed the connection");
    break;
  default:
    fail(gone.detail.empty() ? "connection lost" : gone.detail);
    break;
  }
}

void FilterConnection::fail(const std::string& why) {
  if (closing_) {
    return;
  }
  auto keep = shared_from_this();
  auto connected_done = std::move(connected_done_);
  auto failed = std::move(failed_);
  auto lost = std::move(lost_);
  connected_done_ = nullptr;
  failed_ = nullptr;
  lost_ = nullptr;
  close();
  if (connected_done) {
    connected_done(why);
  } else if (failed) {
    failed(why);
  } else if (lost) {
    lost();
  }
}

void FilterConnection::failSoon(std::string why) {
  report_timer_.start(0, [this, why = std::move(why)] { fail(why); });
}

void FilterConnection::close(std::string_view parting) {
  if (closing_) {
    return;
  }
  closing_ = true;
  handler_ = nullptr;
  // Closed now rather than at the socket's close callback: at the worker's exit the loop's final
  // walk would otherwise close them first, and closing them again aborts.
  timer_.close();
  report_timer_.close();
  transport_->close(parting);
}

void FilterConnection::transportClosed() {
  auto last = std::move(self_); // frees this at the end of the scope
}

} // namespace upesi::plugins::milter
