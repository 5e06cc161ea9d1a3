// The transport on a real loop, over loopback TCP: a server Transport on an accepted socket and
// a client Transport that connects to it.
#include "common/net/transport.hpp"
#include "common/tls/tls_channel.hpp"
#include "test/support/loopback.hpp"
#include "test/support/self_signed.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using upesi::net::PeerGone;
using upesi::net::Transport;
using namespace std::chrono_literals;

namespace {

using Recorder = upesi::test::TransportRecorder;

// A loopback listener whose first accepted connection becomes `server`'s transport.
struct ServerLoopback : upesi::test::Loopback {
  Recorder server;
  Transport::Options server_options;

  ServerLoopback() {
    on_accept = [this](uv_tcp_t* tcp) {
      server.transport = std::make_unique<Transport>(&loop, tcp, server, server_options);
      server.transport->start();
    };
  }
  ~ServerLoopback() { server.transport.reset(); }

  void connect(Recorder& client, Transport::Options options = {}) {
    Loopback::connect(client, options);
    REQUIRE(runUntil([&] { return server.transport != nullptr; }));
  }

  /// Has the server write 64 KiB chunks of `fill` to a client that does not read, until its
  /// output is full; returns the bytes written.
  std::size_t writeUntilFull(char fill) {
    const std::string chunk(64 * 1024, fill);
    std::size_t sent = 0;
    for (int i = 0; i < 256 && !server.transport->outputFull(); ++i) {
      server.transport->write(chunk);
      sent += chunk.size();
      spin(1);
    }
    REQUIRE(server.transport->outputFull());
    CHECK_FALSE(server.transport->reading());
    return sent;
  }
};

} // namespace

TEST_CASE("transport: bytes both ways; close after flush delivers the last bytes, then EOF") {
  ServerLoopback net;
  Recorder client;
  net.connect(client);
  client.transport->write("EHLO client\r\n");
  REQUIRE(net.runUntil([&] { return net.server.received == "EHLO client\r\n"; }));
  net.server.transport->write("250 ok\r\n");
  net.server.transport->write("221 bye\r\n");
  net.server.transport->closeAfterFlush();
  CHECK(net.server.transport->state() == Transport::State::Closing);
  net.server.transport->write("never sent\r\n"); // ignored once closing
  REQUIRE(net.runUntil([&] { return client.gone.has_value(); }));
  CHECK(client.received == "250 ok\r\n221 bye\r\n");
  CHECK(client.gone->cause == PeerGone::Cause::Eof);
  CHECK(net.server.closed);
  CHECK(net.server.transport->state() == Transport::State::Closed);
  CHECK_FALSE(net.server.gone.has_value()); // the owner closed: no transportGone
  client.transport->close();
  REQUIRE(net.runUntil([&] { return client.closed; }));
}

TEST_CASE("transport: the peer's EOF is reported once, and reading stops") {
  ServerLoopback net;
  Recorder client;
  net.connect(client);
  client.transport->close();
  CHECK_FALSE(client.closed); // from the close callback, never inside close()
  REQUIRE(net.runUntil([&] { return net.server.gone.has_value() && client.closed; }));
  CHECK(net.server.gone->cause == PeerGone::Cause::Eof);
  CHECK(net.server.transport->gone());
  CHECK_FALSE(net.server.transport->reading());
  net.server.transport->write("after the peer left\r\n"); // ignored, no second report
  net.server.transport->closeAfterFlush();
  REQUIRE(net.runUntil([&] { return net.server.closed; }));
}

TEST_CASE("transport: a peer that reads nothing pauses reading, then is dropped as stalled") {
  ServerLoopback net;
  net.server_options.max_output = 64 * 1024;
  net.server_options.write_timeout = 300ms;
  Recorder client;
  net.connect(client);
  client.transport->setReading(false); // the peer that never reads its replies
  net.writeUntilFull('x');
  // A command from the peer now is not read: the input side is bounded too.
  client.transport->write("NOOP\r\n");
  REQUIRE(net.runUntil([&] { return net.server.gone.has_value(); }));
  CHECK(net.server.gone->cause == PeerGone::Cause::Stalled);
  CHECK(net.server.gone->detail.find("bytes unsent for 300 ms") != std::string::npos);
  CHECK(net.server.received.empty());
  net.server.transport->closeAfterFlush(); // gone: closes at once
  REQUIRE(net.runUntil([&] { return net.server.closed; }));
}

TEST_CASE("transport: output drains once the peer reads, and reading resumes") {
  ServerLoopback net;
  net.server_options.max_output = 64 * 1024;
  net.server_options.write_timeout = 5s;
  Recorder client;
  net.connect(client);
  client.transport->setReading(false);
  const std::size_t sent = net.writeUntilFull('y');
  client.transport->setReading(true);
  REQUIRE(net.runUntil([&] { return client.received.size() == sent; }));
  REQUIRE(net.runUntil([&] { return net.server.drained > 0; }));
  CHECK_FALSE(net.server.transport->outputFull());
  CHECK(net.server.transport->reading());
  CHECK_FALSE(net.server.gone.has_value());
}

TEST_CASE("transport: a peer's answer before it resets the connection is read, not lost") {
  // As clamd past StreamMaxLength: it answers and closes while the client is still sending.
  ServerLoopback net;
  Recorder client;
  Transport::Options options;
  options.max_output = 64 * 1024;
  options.write_timeout = 5s;
  net.connect(client, options);
  net.server.transport->setReading(false); // unread bytes at close make the kernel reset
  const std::string chunk(64 * 1024, 'z');
  for (int i = 0; i < 256 && !client.transport->outputFull(); ++i) {
    client.transport->write(chunk);
    net.spin(1);
  }
  REQUIRE(client.transport->outputFull());
  CHECK_FALSE(client.transport->reading());
  net.server.transport->write("INSTREAM size limit exceeded. ERROR");
  net.server.transport->closeAfterFlush();
  REQUIRE(net.runUntil([&] { return client.gone.has_value(); }));
  CHECK(client.received == "INSTREAM size limit exceeded. ERROR");
  client.transport->close();
  REQUIRE(net.runUntil([&] { return client.closed; }));
}

TEST_CASE("transport: corked writes go out together at uncork, and count as backlog") {
  ServerLoopback net;
  Recorder client;
  net.connect(client);
  net.server.transport->cork();
  net.server.transport->write("250-first\r\n");
  net.server.transport->write("250 second\r\n");
  CHECK(net.server.transport->backlog() == 23);
  net.spin();
  net.spin();
  CHECK(client.received.empty());
  net.server.transport->uncork();
  REQUIRE(net.runUntil([&] { return client.received == "250-first\r\n250 second\r\n"; }));
}

TEST_CASE("transport: close() says its parting words when the socket takes them at once") {
  ServerLoopback net;
  Recorder client;
  net.connect(client);
  client.transport->close("QUIT\r\n");
  REQUIRE(net.runUntil([&] { return net.server.gone.has_value(); }));
  CHECK(net.server.received == "QUIT\r\n");
  CHECK(net.server.gone->cause == PeerGone::Cause::Eof);
  CHECK(client.closed);
}

TEST_CASE("transport: destroyed while open, it closes its socket without a word to its owner") {
  ServerLoopback net;
  Recorder client;
  net.connect(client);
  client.transport.reset();
  REQUIRE(net.runUntil([&] { return net.server.gone.has_value(); }));
  CHECK(net.server.gone->cause == PeerGone::Cause::Eof);
  CHECK_FALSE(client.closed);
}

TEST_CASE("transport: a refused connect is reported from the loop") {
  ServerLoopback net;
  sockaddr_in unused = net.address;
  {
    // A port that was just free: bound, read back, closed.
    uv_tcp_t probe;
    REQUIRE(uv_tcp_init(&net.loop, &probe) == 0);
    sockaddr_in any{};
    REQUIRE(uv_ip4_addr("127.0.0.1", 0, &any) == 0);
    REQUIRE(uv_tcp_bind(&probe, reinterpret_cast<const sockaddr*>(&any), 0) == 0);
    int length = sizeof unused;
    REQUIRE(uv_tcp_getsockname(&probe, reinterpret_cast<sockaddr*>(&unused), &length) == 0);
    uv_close(reinterpret_cast<uv_handle_t*>(&probe), nullptr);
    net.spin();
  }
  Recorder client;
  client.transport = std::make_unique<Transport>(&net.loop, client, Transport::Options{});
  REQUIRE(client.transport->connect(reinterpret_cast<const sockaddr*>(&unused)) == 0);
  CHECK_FALSE(client.connected.has_value());
  REQUIRE(net.runUntil([&] { return client.connected.has_value(); }));
  CHECK(*client.connected == UV_ECONNREFUSED);
  client.transport->close();
  REQUIRE(net.runUntil([&] { return client.closed; }));
}

TEST_CASE("transport: TLS under the bytes; what is written during the handshake waits for it") {
  SSL_CTX* server_context = upesi::test::selfSignedServerContext();
  SSL_CTX* client_context = SSL_CTX_new(TLS_client_method());
  REQUIRE(client_context != nullptr);
  {
    ServerLoopback net;
    Recorder client;
    net.connect(client);
    REQUIRE(net.runUntil([&] { return net.server.transport != nullptr; }));
    auto server_channel = upesi::tls::TlsChannel::server(server_context);
    REQUIRE(server_channel.ok());
    net.server.transport->startTls(std::move(*server_channel));
    auto client_channel = upesi::tls::TlsChannel::client(client_context, "localhost", false);
    REQUIRE(client_channel.ok());
    client.transport->startTls(std::move(*client_channel));
    client.transport->write("EHLO inside\r\n"); // held until the handshake is done
    CHECK(client.transport->backlog() >= 13);
    REQUIRE(net.runUntil([&] { return net.server.received == "EHLO inside\r\n"; }));
    CHECK(client.secured);
    CHECK(net.server.secured);
    CHECK(net.server.transport->tlsEstablished());
    net.server.transport->write("250 secret\r\n");
    net.server.transport->closeAfterFlush(); // with close_notify
    REQUIRE(net.runUntil([&] { return client.gone.has_value(); }));
    CHECK(client.received == "250 secret\r\n");
    CHECK(client.gone->cause == PeerGone::Cause::Tls);
    client.transport->close();
    REQUIRE(net.runUntil([&] { return client.closed && net.server.closed; }));
  }
  SSL_CTX_free(client_context);
  SSL_CTX_free(server_context);
}

TEST_CASE("transport: a unix socket carries bytes both ways; a missing path is reported") {
  ServerLoopback net; // only for its loop
  char dir_template[] = "/tmp/upesi-pipe-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string path = std::string(dir_template) + "/filter.sock";

  const int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  REQUIRE(listener >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  REQUIRE(bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(listen(listener, 1) == 0);

  Recorder client;
  client.transport =
      std::make_unique<Transport>(&net.loop, client, Transport::Options{}, Transport::Kind::Pipe);
  REQUIRE(client.transport->connectPipe(path) == 0);
  REQUIRE(net.runUntil([&] { return client.connected.has_value(); }));
  CHECK(*client.connected == 0);
  CHECK(client.transport->tcp() == nullptr);
  int peer = -1;
  REQUIRE(net.runUntil([&] { return (peer = accept(listener, nullptr, nullptr)) >= 0; }));

  client.transport->write("OPTNEG");
  std::string heard;
  REQUIRE(net.runUntil([&] {
    char buffer[64];
    const ssize_t n = recv(peer, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      heard.append(buffer, static_cast<std::size_t>(n));
    }
    return heard.size() >= 6;
  }));
  CHECK(heard == "OPTNEG");
  REQUIRE(send(peer, "ACCEPT", 6, 0) == 6);
  REQUIRE(net.runUntil([&] { return client.received == "ACCEPT"; }));
  close(peer);
  REQUIRE(net.runUntil([&] { return client.gone.has_value(); }));
  CHECK(client.gone->cause == PeerGone::Cause::Eof);
  client.transport->close();
  REQUIRE(net.runUntil([&] { return client.closed; }));

  Recorder nobody;
  nobody.transport =
      std::make_unique<Transport>(&net.loop, nobody, Transport::Options{}, Transport::Kind::Pipe);
  REQUIRE(nobody.transport->connectPipe(path + ".missing") == 0);
  REQUIRE(net.runUntil([&] { return nobody.connected.has_value(); }));
  CHECK(*nobody.connected == UV_ENOENT);
  nobody.transport->close();
  REQUIRE(net.runUntil([&] { return nobody.closed; }));

  close(listener);
  unlink(path.c_str());
  rmdir(dir_template);
}
