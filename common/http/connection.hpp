// HttpConnection: one client of the HTTP server, over a net::Transport. Requests are read one
// at a time: while one is being answered the next waits unread (pipelined bytes stay in a
// buffer bounded by the request limits), so answers leave in order. Keep-alive is HTTP/1.1's.
//
// Deadlines: a request begun must be complete within `request_timeout` (else 408 and close);
// a kept-alive connection with nothing asked closes after `idle_timeout`; `max_requests` per
// connection. Bad input gets its status (400, 413, 414, 431) and the connection closes.
//
// The handler answers now or later through its Responder; a Responder outlives the connection
// harmlessly (answering a client that left does nothing). Dropping a Responder unanswered
// answers 500, so no client waits forever on a handler's mistake.
//
// Threading: the loop thread.
#pragma once

#include "common/http/request_parser.hpp"
#include "common/http/response.hpp"
#include "common/net/transport.hpp"
#include "common/util/loop_timer.hpp"

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace upesi::http {

struct ConnectionLimits {
  RequestLimits request;
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  unsigned max_requests = 1000;
  std::size_t max_output = 1024 * 1024;
  std::chrono::milliseconds write_timeout{30000};
};

class HttpConnection;

/// What takes over a connection after 101 Switching Protocols (a websocket).
class UpgradedProtocol {
public:
  virtual ~UpgradedProtocol() = default;
  /// The connection it now speaks over, once the 101 is out and before any byte arrives.
  virtual void attached(const std::weak_ptr<HttpConnection>& connection) { (void)connection; }
  /// Bytes from the peer.
  virtual void received(std::string_view bytes) = 0;
  /// The connection is closed (by either side); the last call.
  virtual void gone() = 0;
  /// The server is stopping: end the protocol's session politely.
  virtual void shutdown() = 0;
};

/// Answers one request, once: whole (respond), streamed (begin, write..., end), or by switching
/// protocols (upgrade).
class Responder {
public:
  explicit Responder(std::weak_ptr<HttpConnection> connection, std::uint64_t sequence)
      : connection_(std::move(connection)), sequence_(sequence) {}
  Responder(Responder&&) noexcept = default; // the moved-from one is empty
  Responder& operator=(Responder&&) = delete;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  /// Unanswered: 500. Streaming: the stream ends.
  ~Responder();

  /// The answer; later calls do nothing.
  void respond(Response response);
  /// A streamed answer: `head` (status and fields; its body is ignored) now, then pieces.
  void begin(Response head);
  /// False (and the piece dropped) once the client is gone or has max_output bytes unread.
  bool write(std::string_view piece);
  void end();
  /// `switching` (101) is sent and `protocol` gets every byte from here on; the connection
  /// keeps it alive until it closes.
  void upgrade(Response switching, std::shared_ptr<UpgradedProtocol> protocol);
  /// False once the client has gone.
  bool open() const;

private:
  std::weak_ptr<HttpConnection> connection_;
  std::uint64_t sequence_ = 0;
};

class HttpConnection final : public std::enable_shared_from_this<HttpConnection>,
                             private net::TransportOwner {
public:
  using Handler = std::function<void(const Request&, Responder)>;
  using Closed = std::function<void(HttpConnection&)>;

  /// Takes the accepted socket; start() begins reading. `closed` runs once the socket is closed
  /// (the server drops its reference there).
  HttpConnection(uv_loop_t* loop, uv_tcp_t* accepted, ConnectionLimits limits, Handler handler,
                 Closed closed);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  void start();
  /// Told the status of every answer (for the server's counters).
  void onAnswer(std::function<void(int status)> observer) { on_answer_ = std::move(observer); }
  /// Closes once the request being answered, if any, is answered (a graceful stop); an
  /// upgraded connection is asked to end by its protocol.
  void shutdown();
  net::Transport& transport() { return transport_; }
  bool closing() const { return closing_; }
  bool outputFull() const { return transport_.outputFull(); }

  // For the protocol an upgrade handed the connection to.
  /// Sends bytes; false (nothing sent) once closing, or when max_output bytes are unread and
  /// `droppable`.
  bool sendUpgraded(std::string bytes, bool droppable);
  /// Closes after what was sent has left.
  void closeUpgraded();
  UpgradedProtocol* upgradedProtocol() const { return upgraded_.get(); }

private:
  friend class Responder;

  void transportReceived(std::string_view bytes) override;
  void transportGone(const net::PeerGone& gone) override;
  void transportClosed() override;

  void processInput();
  void answer(std::uint64_t sequence, Response response);
  void beginStream(std::uint64_t sequence, Response head);
  bool writeStream(std::uint64_t sequence, std::string_view piece);
  void endStream(std::uint64_t sequence);
  void upgrade(std::uint64_t sequence, Response switching,
               std::shared_ptr<UpgradedProtocol> protocol);
  void abandoned(std::uint64_t sequence);
  void answered(); // the answer is out: next request, or close
  void answeredWith(int status) {
    if (on_answer_) {
      on_answer_(status);
    }
  }
  void fail(int status, const std::string& reason);
  void armDeadline();

  ConnectionLimits limits_;
  Handler handler_;
  Closed closed_;
  std::function<void(int status)> on_answer_;
  net::Transport transport_;
  RequestParser parser_;
  std::string in_; // read and not yet parsed
  LoopTimer deadline_;
  std::uint64_t sequence_ = 0; // of the request being answered
  bool answering_ = false;
  bool request_deadline_ = false; // deadline_ is the request's, not the idle one
  bool keep_alive_ = true;
  bool head_ = false; // the request being answered is a HEAD
  bool streaming_ = false;
  bool chunked_ = false; // the stream is chunked (HTTP/1.1); else it ends with the connection
  bool http10_ = false;  // the request being answered is HTTP/1.0
  std::shared_ptr<UpgradedProtocol> upgraded_;
  bool closing_ = false;
  bool processing_ = false; // inside processInput()
  bool shutting_down_ = false;
  unsigned requests_ = 0;
};

} // namespace upesi::http
