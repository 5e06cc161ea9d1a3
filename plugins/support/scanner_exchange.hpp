// ScannerExchange: one request and its answer with a content scanner daemon (spamd, clamd) on
// the project's transport: resolve the endpoint's host, connect within connect_timeout, write
// the request's head, stream the message from a MessagePump through the request's framing, write
// its tail, and read the answer until the daemon closes the connection or the answer is
// complete. Any wait on the daemon longer than idle_timeout (no byte read, none taken) ends it.
//
// done() runs once, on the loop, from a transport or timer callback (never from start()); the
// owner may destroy the exchange there. Destroying an exchange earlier cancels it silently.
//
// Threading: the loop thread.
#pragma once

#include <upesi/connection.hpp>
#include <upesi/host.hpp>

#include "common/dns/mx_resolver.hpp"
#include "common/net/transport.hpp"
#include "common/util/loop_timer.hpp"
#include "plugins/support/message_pump.hpp"
#include "plugins/support/scanner_endpoint.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace upesi::plugins {

struct ScannerRequest {
  ScannerEndpoint endpoint;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};
  /// The bytes before the message; given its size when the pump measures it (else 0).
  std::function<std::string(std::uint64_t message_size)> head;
  /// One chunk of the message as sent (clamd frames it with its length); null: as it is.
  std::function<std::string(std::string chunk)> frame;
  std::string tail;                   ///< after the message
  MessagePump::Options pump;          ///< how the message is read
  std::size_t max_answer = 64 * 1024; ///< a longer answer is an error
  /// True once the answer read so far is whole (the daemon need not close first).
  std::function<bool(std::string_view answer)> complete;
};

struct ScannerOutcome {
  enum class Failure {
    None,           ///< answered: `answer` holds it
    Connect,        ///< resolving or connecting failed
    ConnectTimeout, ///< not connected within connect_timeout
    Timeout,        ///< connected, then idle for idle_timeout
    Error,          ///< the connection failed after connecting, before an answer
    TooLong,        ///< the answer passed max_answer
    Reading,        ///< the message could not be read
  };
  Failure failure = Failure::None;
  bool connected = false;
  std::string answer;
  std::string detail; ///< what went wrong, for logs
};

class ScannerExchange final : net::TransportOwner {
public:
  using Done = std::function<void(ScannerOutcome)>;

  ScannerExchange(Host& host, const dns::MxResolver& resolver, std::shared_ptr<Transaction> txn,
                  ScannerRequest request, Done done);
  ~ScannerExchange();
  ScannerExchange(const ScannerExchange&) = delete;
  ScannerExchange& operator=(const ScannerExchange&) = delete;

  void start();

private:
  net::Transport::Options transportOptions() const;
  void connectTo(const std::string& ip);
  void transportReceived(std::string_view bytes) override;
  void transportGone(const net::PeerGone& gone) override;
  void transportDrained() override;
  void transportConnected(int status) override;
  void transportClosed() override;

  void pumpReady();
  void send();
  void touch();
  void fail(ScannerOutcome::Failure failure, std::string detail);
  void finish();

  Host& host_;
  uv_loop_t* loop_;
  const dns::MxResolver& resolver_;
  std::shared_ptr<Transaction> txn_;
  ScannerRequest request_;
  Done done_;
  std::unique_ptr<net::Transport> transport_;
  std::shared_ptr<MessagePump> pump_;
  LoopTimer timer_;  // the connect timeout, then the idle timeout
  LoopTimer report_; // an outcome found without a socket, on a later loop turn
  ScannerOutcome outcome_;
  bool head_sent_ = false;
  bool tail_sent_ = false;
  bool finishing_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace upesi::plugins
