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

TEST_CASE("http connection: a streamed answer is chunked, and the connection is kept alive") {
  HttpLoopback net;
  net.hold = true;
  TransportRecorder client;
  net.send(client, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(net.runUntil([&] { return net.held.has_value(); }));
  Response head;
  head.header("Content-Type", "text/plain");
  net.held->begin(head);
  CHECK(net.held->write("first\n"));
  CHECK(net.held->write("")); // nothing: an empty chunk would end the body
  CHECK(net.held->write("second piece\n"));
  const std::string streamed = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "6\r\nfirst\n\r\nd\r\nsecond piece\n\r\n";
  REQUIRE(net.runUntil([&] { return client.received.size() >= streamed.size(); }));
  CHECK(client.received == streamed);
  CHECK(net.targets.size() == 1); // the pipelined request waits for the stream's end
  net.hold = false;
  net.held->end();
  net.held.reset();
  REQUIRE(net.runUntil([&] {
    return net.targets.size() == 2 && client.received.find("/after") != std::string::npos;
  }));
  CHECK(client.received.substr(streamed.size(), 5) == "0\r\n\r\n");
  CHECK_FALSE(net.connection_closed);
}

TEST_CASE("http connection: a stream given up by its handler ends; an HTTP/1.0 stream closes") {
  HttpLoopback net;
  net.hold = true;
  TransportRecorder client;
  net.send(client, "GET /old HTTP/1.0\r\n\r\n");
  REQUIRE(net.runUntil([&] { return net.held.has_value(); }));
  net.held->begin(Response{});
  CHECK(net.held->write("unchunked"));
  net.held.reset(); // dropped mid-stream: the stream ends, here with the connection
  REQUIRE(net.runUntil([&] { return client.gone.has_value(); }));
  CHECK(client.received == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nunchunked");
}

namespace {

struct EchoProtocol : UpgradedProtocol {
  std::weak_ptr<HttpConnection> connection;
  std::string seen;
  bool gone_called = false;
  void received(std::string_view bytes) override {
    seen.append(bytes);
    if (auto c = connection.lock()) {
      c->sendUpgraded("got " + std::string(bytes), true);
    }
  }
  void gone() override { gone_called = true; }
  void shutdown() override {
    if (auto c = connection.lock()) {
      c->closeUpgraded();
    }
  }
};

} // namespace

TEST_CASE("http connection: an upgrade hands every later byte to the protocol") {
  HttpLoopback net;
  net.hold = true;
  TransportRecorder client;
  // The first protocol bytes arrive with the request, before the 101.
  net.send(client,
           "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\nearly");
  REQUIRE(net.runUntil([&] { return net.held.has_value(); }));
  auto protocol = std::make_shared<EchoProtocol>();
  protocol->connection = net.connection;
  Response switching;
  switching.status = 101;
  switching.header("Upgrade", "test");
  net.held->upgrade(switching, protocol);
  net.held.reset(); // answered: no 500
  const std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\n\r\n";
  REQUIRE(net.runUntil([&] { return client.received.size() >= head.size() + 9; }));
  CHECK(client.received == head + "got early");
  client.transport->write("later");
  REQUIRE(net.runUntil([&] { return protocol->seen == "earlylater"; }));
  net.connection->shutdown(); // the protocol decides: this one closes
  REQUIRE(net.runUntil([&] { return client.gone.has_value() && protocol->gone_called; }));
}
