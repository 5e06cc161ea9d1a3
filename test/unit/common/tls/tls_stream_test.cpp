#include "common/tls/tls_channel.hpp"
#include "common/tls/tls_stream.hpp"

#include <doctest/doctest.h>
#include <openssl/ssl.h>

#include <string>

using upesi::tls::TlsChannel;
using upesi::tls::TlsStream;

TEST_CASE("tls stream: input held while a handshake step runs is bounded") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  SSL_CTX* context = SSL_CTX_new(TLS_server_method());
  REQUIRE(context != nullptr);
  auto channel = TlsChannel::server(context);
  REQUIRE(channel.ok());
  std::string failure;
  {
    TlsStream stream(&loop, std::move(*channel),
                     {[](std::string) {}, []() {}, [](std::string_view) {},
                      [&failure](const std::string& why) { failure = why; }});
    // The server's first step (its answer to the ClientHello) goes to the thread pool; it
    // cannot finish before the loop runs again, so what follows is held.
    stream.received(std::string("\x16\x03\x01\x00\x05hello", 10));
    stream.received(std::string(32 * 1024, 'x'));
    CHECK(failure.empty());
    stream.received(std::string(40 * 1024, 'x'));
    CHECK(failure.find("during a handshake step") != std::string::npos);
  }
  uv_run(&loop, UV_RUN_DEFAULT); // the step's completion finds its stream gone
  CHECK(uv_loop_close(&loop) == 0);
  SSL_CTX_free(context);
}
