// The HTTP client against a tiny server on a loopback socket of the test's own: what it sends,
// what it makes of the answers, and each way an exchange can fail.
#include "common/http/client.hpp"
#include "test/support/loopback.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>

using upesi::http::ClientFailure;
using upesi::http::ClientOptions;
using upesi::http::ClientRequest;
using upesi::http::ClientResult;
using upesi::http::sendHttpRequest;
using upesi::net::Transport;
using upesi::test::TransportRecorder;
using namespace std::chrono_literals;

namespace {

struct Server : upesi::test::Loopback {
  TransportRecorder peer;

  Server() {
    on_accept = [this](uv_tcp_t* tcp) {
      peer.transport = std::make_unique<Transport>(&loop, tcp, peer, Transport::Options{});
      peer.transport->start();
    };
  }
  ~Server() { peer.transport.reset(); }

  const sockaddr* to() const { return reinterpret_cast<const sockaddr*>(&address); }
};

ClientRequest post(std::string body) {
  ClientRequest request;
  request.method = "POST";
  request.target = "/checkv2";
  request.host = "localhost";
  request.headers = {{"Rcpt", "a@example.com"}, {"Rcpt", "b@example.com"}, {"Helo", "x\r\ny"}};
  request.content_length = body.size();
  request.body = upesi::smtp_client::memorySource(std::move(body));
  return request;
}

} // namespace

TEST_CASE("http client: a large body goes out whole, and the response comes back") {
  Server server;
  const std::string body(3 * 1024 * 1024 + 17, 'm');
  std::optional<ClientResult> result;
  auto handle = sendHttpRequest(&server.loop, server.to(), post(body), ClientOptions{},
                                [&](ClientResult r) { result = std::move(r); });
  const std::string head = "POST /checkv2 HTTP/1.1\r\nHost: localhost\r\nRcpt: a@example.com\r\n"
                           "Rcpt: b@example.com\r\nHelo: x  y\r\nContent-Length: 3145745\r\n"
                           "Connection: close\r\n\r\n";
  REQUIRE(
      server.runUntil([&] { return server.peer.received.size() == head.size() + body.size(); }));
  CHECK(server.peer.received.substr(0, head.size()) == head);
  CHECK(server.peer.received.substr(head.size()) == body);
  CHECK_FALSE(result.has_value());
  server.peer.transport->write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
  REQUIRE(server.runUntil([&] { return result.has_value(); }));
  REQUIRE(result->ok);
  CHECK(result->response.status == 200);
  CHECK(result->response.body == "{}");
  handle.reset();
  server.peer.transport->close();
}

TEST_CASE("http client: a refused connection fails as Connect") {
  Server server;
  sockaddr_in closed = server.address;
  {
    // A port that was just free: nothing listens there.
    uv_tcp_t probe;
    REQUIRE(uv_tcp_init(&server.loop, &probe) == 0);
    sockaddr_in any{};
    REQUIRE(uv_ip4_addr("127.0.0.1", 0, &any) == 0);
    REQUIRE(uv_tcp_bind(&probe, reinterpret_cast<const sockaddr*>(&any), 0) == 0);
    int length = sizeof closed;
    REQUIRE(uv_tcp_getsockname(&probe, reinterpret_cast<sockaddr*>(&closed), &length) == 0);
    uv_close(reinterpret_cast<uv_handle_t*>(&probe), nullptr);
    server.spin();
  }
  std::optional<ClientResult> result;
  auto handle = sendHttpRequest(&server.loop, reinterpret_cast<const sockaddr*>(&closed), post("x"),
                                ClientOptions{}, [&](ClientResult r) { result = std::move(r); });
  REQUIRE(server.runUntil([&] { return result.has_value(); }));
  CHECK_FALSE(result->ok);
  CHECK(result->failure.kind == ClientFailure::Kind::Connect);
}

TEST_CASE("http client: a silent server runs into the request timeout") {
  Server server;
  ClientOptions options;
  options.request_timeout = 150ms;
  std::optional<ClientResult> result;
  auto handle = sendHttpRequest(&server.loop, server.to(), post("body"), options,
                                [&](ClientResult r) { result = std::move(r); });
  REQUIRE(server.runUntil([&] { return result.has_value(); }));
  CHECK(result->failure.kind == ClientFailure::Kind::Timeout);
  CHECK(result->failure.timedOut());
  REQUIRE(server.runUntil([&] { return server.peer.gone.has_value(); })); // the client closed
  server.peer.transport->close();
}

TEST_CASE("http client: garbage, an early close and a short body are failures") {
  Server server;
  std::optional<ClientResult> result;
  auto handle = sendHttpRequest(&server.loop, server.to(), post("body"), ClientOptions{},
                                [&](ClientResult r) { result = std::move(r); });
  REQUIRE(server.runUntil([&] { return !server.peer.received.empty(); }));
  server.peer.transport->write("220 mail.example.com ESMTP\r\n");
  REQUIRE(server.runUntil([&] { return result.has_value(); }));
  CHECK(result->failure.kind == ClientFailure::Kind::BadResponse);
  server.peer.transport.reset();

  result.reset();
  handle = sendHttpRequest(&server.loop, server.to(), post("body"), ClientOptions{},
                           [&](ClientResult r) { result = std::move(r); });
  REQUIRE(server.runUntil([&] { return server.peer.transport != nullptr; }));
  server.peer.transport->write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{");
  server.peer.transport->closeAfterFlush();
  REQUIRE(server.runUntil([&] { return result.has_value(); }));
  CHECK(result->failure.kind == ClientFailure::Kind::Network);
  server.peer.transport.reset();

  result.reset();
  auto request = post("short");
  request.content_length = 10;
  handle = sendHttpRequest(&server.loop, server.to(), std::move(request), ClientOptions{},
                           [&](ClientResult r) { result = std::move(r); });
  REQUIRE(server.runUntil([&] { return result.has_value(); }));
  CHECK(result->failure.kind == ClientFailure::Kind::Body);
  handle.reset();
  server.spin();
}

TEST_CASE("http client: a dropped handle abandons the request without a call") {
  Server server;
  bool called = false;
  auto handle = sendHttpRequest(&server.loop, server.to(), post("body"), ClientOptions{},
                                [&](ClientResult) { called = true; });
  REQUIRE(server.runUntil([&] { return !server.peer.received.empty(); }));
  handle.reset();
  REQUIRE(server.runUntil([&] { return server.peer.gone.has_value(); }));
  server.peer.transport->close();
  server.spin(5);
  CHECK_FALSE(called);
}
