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

/// Answers one request, once.
class Responder {
public:
  explicit Responder(std::weak_ptr<HttpConnection> connection, std::uint64_t sequence)
      : connection_(std::move(connection)), sequence_(sequence) {}
  Responder(Responder&&) noexcept = default;
  Responder& operator=(Responder&&) = delete;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder();

  /// The answer; later calls do nothing.
  void respond(Response response);

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
  /// Closes once the request being answered, if any, is answered (a graceful stop).
  void shutdown();
  net::Transport& transport() { return transport_; }

private:
  friend class Responder;

  void transportReceived(std::string_view bytes) override;
  void transportGone(const net::PeerGone& gone) override;
  void transportClosed() override;

  void processInput();
  void answer(std::uint64_t sequence, Response response);
  void fail(int status, const std::string& reason);
  void armDeadline();

  ConnectionLimits limits_;
  Handler handler_;
  Closed closed_;
  net::Transport transport_;
  RequestParser parser_;
  std::string in_; // read and not yet parsed
  LoopTimer deadline_;
  std::uint64_t sequence_ = 0; // of the request being answered
  bool answering_ = false;
  bool request_deadline_ = false; // deadline_ is the request's, not the idle one
  bool keep_alive_ = true;
  bool head_ = false; // the request being answered is a HEAD
  bool closing_ = false;
  bool processing_ = false; // inside processInput()
  bool shutting_down_ = false;
  unsigned requests_ = 0;
};

} // namespace upesi::http
