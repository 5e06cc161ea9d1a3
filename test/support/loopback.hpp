// Loopback TCP on a real libuv loop, for unit tests of what runs on a net::Transport: a listener
// on 127.0.0.1 at a port the kernel picks, a recording TransportOwner for the other end, and
// bounded ways to run the loop.
#pragma once

#include "common/net/transport.hpp"
#include "test/support/test_loop.hpp"

#include <doctest/doctest.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace upesi::test {

/// A TransportOwner that writes down everything it is told.
struct TransportRecorder final : net::TransportOwner {
  std::string received;
  std::optional<net::PeerGone> gone;
  std::optional<int> connected;
  int drained = 0;
  bool secured = false;
  bool closed = false;
  std::unique_ptr<net::Transport> transport;

  void transportReceived(std::string_view bytes) override { received.append(bytes); }
  void transportGone(const net::PeerGone& why) override { gone = why; }
  void transportDrained() override { ++drained; }
  void transportSecured() override { secured = true; }
  void transportConnected(int status) override { connected = status; }
  void transportClosed() override { closed = true; }
};

/// A loop and a listener; each accepted socket (a Transport::newSocket handle) goes to on_accept.
class Loopback {
public:
  uv_loop_t loop{};
  sockaddr_in address{};
  std::function<void(uv_tcp_t* accepted)> on_accept;

  Loopback() {
    REQUIRE(uv_loop_init(&loop) == 0);
    REQUIRE(uv_tcp_init(&loop, &listener_) == 0);
    listener_.data = this;
    REQUIRE(uv_ip4_addr("127.0.0.1", 0, &address) == 0);
    REQUIRE(uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&address), 0) == 0);
    int length = sizeof address;
    REQUIRE(uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 8, onConnection) == 0);
  }

  /// Whatever the test left open must be closed or destroyed before this runs.
  ~Loopback() {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT); // every handle closes
    CHECK(uv_loop_close(&loop) == 0);
  }
  Loopback(const Loopback&) = delete;
  Loopback& operator=(const Loopback&) = delete;

  /// A client Transport for `client`, connected to the listener.
  void connect(TransportRecorder& client, net::Transport::Options options = {}) {
    client.transport = std::make_unique<net::Transport>(&loop, client, options);
    REQUIRE(client.transport->connect(reinterpret_cast<const sockaddr*>(&address)) == 0);
    REQUIRE(runUntil([&] { return client.connected.has_value(); }));
    REQUIRE(*client.connected == 0);
  }

  /// Runs the loop until `done` holds; false after 5 s of loop time without it.
  bool runUntil(const std::function<bool()>& done) { return runLoopUntil(loop, done); }

  /// A few turns of the loop, for what needs no waiting.
  void spin(int turns = 3) {
    for (int i = 0; i < turns; ++i) {
      uv_run(&loop, UV_RUN_NOWAIT);
    }
  }

private:
  static void onConnection(uv_stream_t* listener, int status) {
    auto* self = static_cast<Loopback*>(listener->data);
    REQUIRE(status == 0);
    uv_tcp_t* tcp = net::Transport::newSocket(&self->loop);
    REQUIRE(uv_accept(listener, reinterpret_cast<uv_stream_t*>(tcp)) == 0);
    if (self->on_accept) {
      self->on_accept(tcp);
    } else {
      net::Transport::discardSocket(tcp);
    }
  }

  uv_tcp_t listener_{};
};

} // namespace upesi::test
