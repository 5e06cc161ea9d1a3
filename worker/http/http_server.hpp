// HttpServer: the HTTP listeners of one worker (http.ini) and the connections they accepted.
// Access is checked before anything is read: a client outside allow= is closed at accept, and
// every request but GET /healthz must carry the bearer token when one is set (401). Requests
// then go to the Router; websocket handshakes to its endpoints.
//
// Threading: the loop thread.
#pragma once

#include "common/config/http_config.hpp"
#include "common/http/connection.hpp"
#include "common/metrics/metrics.hpp"
#include "common/util/result.hpp"
#include "common/util/uv_handle.hpp"
#include "worker/http/router.hpp"

#include <uv.h>

#include <array>
#include <functional>
#include <memory>
#include <unordered_map>
#include <variant>
#include <vector>

namespace upesi::tls {
class ServerTls;
}

namespace upesi::worker::http {

class HttpServer {
public:
  /// The certificates to use now (they may be reloaded); null when TLS is not configured.
  using TlsSource = std::function<std::shared_ptr<const tls::ServerTls>()>;

  HttpServer(uv_loop_t* loop, config::HttpConfig config, TlsSource tls);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Listens on an inherited socket bound to http.ini's listen; TLS when http.ini says so or
  /// the port is 443.
  Result<std::monostate> adopt(int fd);
  Router& router() { return router_; }
  const config::HttpConfig& config() const { return config_; }

  /// Stops accepting, ends each connection once its request is answered (websockets get
  /// 1001), and calls `done` when none is left.
  void drain(std::function<void()> done);
  std::size_t connectionCount() const { return connections_.size(); }
  bool listening() const { return !listeners_.empty(); }

private:
  struct Listener {
    HttpServer* server = nullptr;
    UvHandle<uv_tcp_t> tcp;
    bool tls = false;
  };
  struct Peer {
    std::string ip;
    std::uint16_t port = 0;
    bool tls = false;
  };
  static void onConnection(uv_stream_t* server, int status);
  void accept(Listener& listener);
  void dispatch(const Peer& peer, const ::upesi::http::Request& parsed,
                ::upesi::http::Responder responder);
  void closed(::upesi::http::HttpConnection& connection);

  uv_loop_t* loop_;
  config::HttpConfig config_;
  TlsSource tls_;
  ::upesi::http::ConnectionLimits limits_;
  Router router_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_map<::upesi::http::HttpConnection*, std::shared_ptr<::upesi::http::HttpConnection>>
      connections_;
  std::function<void()> drained_;
  std::array<metrics::Counter, 5> answers_; // by status class, 1xx to 5xx
};

} // namespace upesi::worker::http
