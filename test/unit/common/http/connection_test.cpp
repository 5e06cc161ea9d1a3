#include "common/http/connection.hpp"
#include "test/support/loopback.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

using namespace upesi::http;
using namespace std::chrono_literals;
using upesi::test::TransportRecorder;

namespace {

// A loopback listener whose connections are HttpConnections calling `handler`.
struct HttpLoopback : upesi::test::Loopback {
  ConnectionLimits limits;
  std::vector<std::string> targets; // of the requests the handler saw
  std::optional<Responder> held;    // a request answered later, when the test says
  bool hold = false;
  std::shared_ptr<HttpConnection> connection;
  bool connection_closed = false;

  HttpLoopback() {
    on_accept = [this](uv_tcp_t* tcp) {
      connection = std::make_shared<HttpConnection>(
          &loop, tcp, limits,
          [this](const Request& request, Responder responder) {
            targets.push_back(request.target);
            if (hold) {
              held.emplace(std::move(responder));
              return;
            }
            responder.respond(Response::text(200, "you asked for " + request.target + "\n")
                                  .header("X-Method", request.method));
          },
          [this](HttpConnection&) {
            connection_closed = true;
            connection.reset();
          });
      connection->start();
    };
  }
  ~HttpLoopback() {
    held.reset();
    if (connection) {
      connection->shutdown();
      runUntil([&] { return connection_closed; });
    }
  }

  // A client connected and `request` sent.
  void send(TransportRecorder& client, std::string_view request) {
    connect(client);
    client.transport->write(request);
  }
};

} // namespace

TEST_CASE("http connection: pipelined requests are answered in order, kept alive") {
  HttpLoopback net;
  TransportRecorder client;
  net.send(client, "GET /one HTTP/1.1\r\nHost: x\r\n\r\nHEAD /two HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                            "X-Method: GET\r\nContent-Length: 19\r\n\r\nyou asked for /one\n";
  const std::string second = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             "X-Method: HEAD\r\nContent-Length: 19\r\n\r\n"; // HEAD: no body
  REQUIRE(net.runUntil([&] { return client.received.size() >= first.size() + second.size(); }));
  CHECK(client.received == first + second);
  CHECK(net.targets == std::vector<std::string>{"/one", "/two"});
  CHECK_FALSE(net.connection_closed);
  client.transport->close();
  REQUIRE(net.runUntil([&] { return client.closed && net.connection_closed; }));
}

TEST_CASE("http connection: an answer given later; the next request waits for it") {
  HttpLoopback net;
  net.hold = true;
  TransportRecorder client;
  net.send(client, "GET /slow HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  REQUIRE(net.runUntil([&] { return net.held.has_value(); }));
  net.spin(10);
  CHECK(net.targets == std::vector<std::string>{"/slow"}); // /next is not read yet
  CHECK(client.received.empty());
  net.hold = false;
  net.held->respond(Response::text(202, "later\n"));
  REQUIRE(net.runUntil([&] { return client.gone.has_value(); })); // closed after /next
  CHECK(client.received.starts_with("HTTP/1.1 202 Accepted\r\n"));
  CHECK(client.received.find("later\n") != std::string::npos);
  CHECK(client.received.find("Connection: close\r\n\r\nyou asked for /next\n") !=
        std::string::npos);
  net.held.reset();
  client.transport->close();
  REQUIRE(net.runUntil([&] { return client.closed && net.connection_closed; }));
}

TEST_CASE("http connection: a handler that drops its responder answers 500") {
  HttpLoopback net;
  net.hold = true;
  TransportRecorder client;
  net.send(client, "GET / HTTP/1.1\r\n\r\n");
  REQUIRE(net.runUntil([&] { return net.held.has_value(); }));
  net.held.reset();
  REQUIRE(net.runUntil([&] { return client.received.find("\r\n\r\n") != std::string::npos; }));
  CHECK(client.received.starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
  client.transport->close();
  REQUIRE(net.runUntil([&] { return client.closed && net.connection_closed; }));
}

TEST_CASE("http connection: bad input gets its status, then the connection closes") {
  HttpLoopback net;
  net.limits.request.max_header_bytes = 64;
  TransportRecorder client;
  SUBCASE("not HTTP: 400") {
    net.send(client, "EHLO client.example\r\n");
    REQUIRE(net.runUntil([&] { return client.gone.has_value(); }));
    CHECK(client.received.starts_with("HTTP/1.1 400 Bad Request\r\n"));
  }
  SUBCASE("header fields past the limit: 431") {
    net.send(client, "GET / HTTP/1.1\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n");
    REQUIRE(net.runUntil([&] { return client.gone.has_value(); }));
    CHECK(client.received.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  }
  CHECK(client.received.find("Connection: close\r\n") != std::string::npos);
  CHECK(net.targets.empty());
  client.transport->close();
  REQUIRE(net.runUntil([&] { return client.closed && net.connection_closed; }));
}

TEST_CASE("http connection: a request not finished in time gets 408; an idle one just closes") {
  HttpLoopback net;
  net.limits.request_timeout = 100ms;
  net.limits.idle_timeout = 150ms;
  TransportRecorder slow;
  net.send(slow, "GET /never-fin"); // and nothing more, however the client trickles
  REQUIRE(net.runUntil([&] { return slow.gone.has_value(); }));
  CHECK(slow.received.starts_with("HTTP/1.1 408 Request Timeout\r\n"));
  slow.transport->close();
  REQUIRE(net.runUntil([&] { return slow.closed && net.connection_closed; }));

  net.connection_closed = false;
  TransportRecorder idle;
  net.connect(idle);
  REQUIRE(net.runUntil([&] { return idle.gone.has_value(); }));
  CHECK(idle.received.empty());
  idle.transport->close();
  REQUIRE(net.runUntil([&] { return idle.closed && net.connection_closed; }));
}
