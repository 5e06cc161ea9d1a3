// HttpClient: one HTTP/1.1 request on a connection of its own (Connection: close), for the
// filters and fetchers of the worker (rspamd today, MTA-STS policies next). The request's body
// has a length known up front and comes from a MessageSource (memory, a file, a writer), read a
// chunk at a time as the socket takes it; the response is read by ResponseParser within its
// limits. Everything runs on the loop: `done` is called once, from a libuv callback, never from
// inside send().
//
// Deadlines: connect_timeout for the TCP connection, request_timeout for the whole exchange
// (connecting included). With ClientOptions::tls the request goes over TLS (HTTPS): the
// handshake follows the connection, and the head is written only once the server's
// certificate has verified for tls_name; one that does not is a failure (Kind::Tls).
//
// Threading: the loop thread.
#pragma once

#include "common/http/response_parser.hpp"
#include "common/smtp_client/message_source.hpp"

#include <openssl/ssl.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace upesi::http {

/// The body is a chunk source shared with the SMTP client: it must yield exactly
/// `content_length` bytes, then an empty chunk.
using BodySource = smtp_client::MessageSource;

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";                                 // "/checkv2?x=1"
  std::string host;                                         // the Host field's value
  std::vector<std::pair<std::string, std::string>> headers; // more fields, in order
  std::uint64_t content_length = 0;
  std::shared_ptr<BodySource> body; // null: no body (Content-Length only when nonzero)
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};
  ResponseLimits limits;
  std::size_t body_chunk = 64 * 1024;  // bytes asked of the body source at a time
  std::size_t max_output = 256 * 1024; // bytes waiting for the socket before the body waits
  SSL_CTX* tls = nullptr;              // HTTPS with this client context; null: plain HTTP
  std::string tls_name;                // SNI, and the name the certificate must carry
};

struct ClientFailure {
  enum class Kind {
    Connect,        // the connection was refused or failed
    ConnectTimeout, // no connection within connect_timeout
    Timeout,        // no complete response within request_timeout
    Network,        // the connection broke or closed early
    BadResponse,    // not HTTP, or past a limit
    Body,           // the body source failed or gave the wrong length
    Tls,            // the handshake failed, or the certificate did not verify for tls_name
  };
  Kind kind;
  std::string detail;

  bool timedOut() const { return kind == Kind::ConnectTimeout || kind == Kind::Timeout; }
};

/// The final response, or why there is none.
struct ClientResult {
  bool ok = false;
  ClientResponse response;
  ClientFailure failure{ClientFailure::Kind::Network, {}};
};

using ClientCallback = std::function<void(ClientResult)>;

class HttpExchange;

/// A request under way; dropping it (or cancel()) abandons the request: `done` is not called.
class HttpRequestHandle {
public:
  explicit HttpRequestHandle(std::shared_ptr<HttpExchange> exchange)
      : exchange_(std::move(exchange)) {}
  ~HttpRequestHandle() { cancel(); }
  HttpRequestHandle(const HttpRequestHandle&) = delete;
  HttpRequestHandle& operator=(const HttpRequestHandle&) = delete;
  void cancel();

private:
  std::shared_ptr<HttpExchange> exchange_;
};

/// Sends `request` to `to` (IPv4 or IPv6, port set). `done` runs once on the loop unless the
/// handle is dropped first.
std::unique_ptr<HttpRequestHandle> sendHttpRequest(uv_loop_t* loop, const sockaddr* to,
                                                   ClientRequest request, ClientOptions options,
                                                   ClientCallback done);

/// The head of `request` as it goes on the wire (Host, Content-Length and Connection: close
/// added), for tests and logs.
std::string requestHead(const ClientRequest& request);

} // namespace upesi::http
