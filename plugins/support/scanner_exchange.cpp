#include "plugins/support/scanner_exchange.hpp"

#include <fmt/format.h>

#include <utility>

namespace upesi::plugins {
namespace {

// Bytes written and not yet taken by the daemon before the pump waits: a few chunks.
constexpr std::size_t MaxOutput = 256 * 1024;

std::uint64_t millis(std::chrono::milliseconds ms) {
  return ms.count() > 0 ? static_cast<std::uint64_t>(ms.count()) : 1;
}

} // namespace

ScannerExchange::ScannerExchange(Host& host, const dns::MxResolver& resolver,
                                 std::shared_ptr<Transaction> txn, ScannerRequest request,
                                 Done done)
    : host_(host), loop_(static_cast<uv_loop_t*>(host.uvLoop())), resolver_(resolver),
      txn_(std::move(txn)), request_(std::move(request)), done_(std::move(done)), timer_(loop_),
      report_(loop_) {}

ScannerExchange::~ScannerExchange() {
  *alive_ = false;
  if (pump_) {
    pump_->cancel();
  }
}

void ScannerExchange::start() {
  timer_.start(millis(request_.connect_timeout), [this] {
    fail(ScannerOutcome::Failure::ConnectTimeout,
         fmt::format("no connection within {} ms", request_.connect_timeout.count()));
  });
  if (request_.endpoint.isUnix()) {
    transport_ = std::make_unique<net::Transport>(loop_, static_cast<net::TransportOwner&>(*this),
                                                  transportOptions(), net::Transport::Kind::Pipe);
    transport_->connectPipe(request_.endpoint.path); // transportConnected() tells how it went
    return;
  }
  std::weak_ptr<bool> alive = alive_;
  resolver_.lookupNextHop(request_.endpoint.host, [this, alive](Result<std::string> ip) {
    if (alive.expired() || finishing_) {
      return;
    }
    if (!ip) {
      return fail(ScannerOutcome::Failure::Connect, fmt::format("resolving: {}", ip.error()));
    }
    connectTo(*ip);
  });
}

net::Transport::Options ScannerExchange::transportOptions() const {
  net::Transport::Options options;
  options.max_output = MaxOutput;
  options.write_timeout = request_.idle_timeout;
  return options;
}

void ScannerExchange::connectTo(const std::string& ip) {
  sockaddr_storage addr{};
  int rc =
      ip.find(':') != std::string::npos
          ? uv_ip6_addr(ip.c_str(), request_.endpoint.port, reinterpret_cast<sockaddr_in6*>(&addr))
          : uv_ip4_addr(ip.c_str(), request_.endpoint.port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) {
    return fail(ScannerOutcome::Failure::Connect, fmt::format("bad address {}", ip));
  }
  transport_ = std::make_unique<net::Transport>(loop_, static_cast<net::TransportOwner&>(*this),
                                                transportOptions());
  if (rc = transport_->connect(reinterpret_cast<const sockaddr*>(&addr)); rc < 0) {
    fail(ScannerOutcome::Failure::Connect, uv_strerror(rc));
  }
}

void ScannerExchange::transportConnected(int status) {
  if (finishing_) {
    return;
  }
  if (status < 0) {
    return fail(ScannerOutcome::Failure::Connect, uv_strerror(status));
  }
  outcome_.connected = true;
  touch();
  pump_ = MessagePump::start(host_, txn_, request_.pump, [this] { pumpReady(); });
  send();
}

void ScannerExchange::pumpReady() {
  touch();
  send();
}

void ScannerExchange::send() {
  if (finishing_ || !pump_ || transport_->state() != net::Transport::State::Open) {
    return;
  }
  if (pump_->failed()) {
    return fail(ScannerOutcome::Failure::Reading, "reading the message failed");
  }
  if (!head_sent_) {
    const auto size = pump_->size();
    if (request_.pump.measure && !size) {
      return; // the pump is still counting
    }
    transport_->write(request_.head ? request_.head(size.value_or(0)) : std::string());
    head_sent_ = true;
  }
  while (!transport_->outputFull()) {
    auto chunk = pump_->take();
    if (!chunk) {
      break;
    }
    transport_->write(request_.frame ? request_.frame(std::move(*chunk)) : std::move(*chunk));
  }
  if (!tail_sent_ && pump_->finished()) {
    tail_sent_ = true;
    if (!request_.tail.empty()) {
      transport_->write(request_.tail);
    }
  }
}

void ScannerExchange::transportDrained() {
  touch();
  send();
}

void ScannerExchange::transportReceived(std::string_view bytes) {
  if (finishing_) {
    return;
  }
  touch();
  if (outcome_.answer.size() + bytes.size() > request_.max_answer) {
    return fail(ScannerOutcome::Failure::TooLong,
                fmt::format("an answer longer than {} bytes", request_.max_answer));
  }
  outcome_.answer.append(bytes);
  if (request_.complete && request_.complete(outcome_.answer)) {
    finish();
  }
}

void ScannerExchange::transportGone(const net::PeerGone& gone) {
  if (finishing_) {
    return;
  }
  if (!outcome_.answer.empty()) {
    return finish(); // the daemon answered, then closed (or refused the rest of the message)
  }
  fail(ScannerOutcome::Failure::Error, gone.cause == net::PeerGone::Cause::Eof
                                           ? std::string("connection closed without an answer")
                                           : fmt::format("connection failed: {}", gone.detail));
}

void ScannerExchange::touch() {
  if (finishing_) {
    return;
  }
  timer_.start(millis(request_.idle_timeout), [this] {
    fail(ScannerOutcome::Failure::Timeout,
         fmt::format("idle for {} ms", request_.idle_timeout.count()));
  });
}

void ScannerExchange::fail(ScannerOutcome::Failure failure, std::string detail) {
  if (finishing_) {
    return;
  }
  outcome_.failure = failure;
  outcome_.detail = std::move(detail);
  finish();
}

void ScannerExchange::finish() {
  if (finishing_) {
    return;
  }
  finishing_ = true;
  timer_.stop();
  if (pump_) {
    pump_->cancel();
  }
  if (transport_ && transport_->state() == net::Transport::State::Open) {
    transport_->close(); // done() follows from transportClosed()
    return;
  }
  if (transport_ && transport_->state() == net::Transport::State::Closing) {
    return;
  }
  report_.start(0, [this] { transportClosed(); });
}

void ScannerExchange::transportClosed() {
  auto done = std::exchange(done_, nullptr);
  if (done) {
    done(std::move(outcome_)); // may destroy this
  }
}

} // namespace upesi::plugins
