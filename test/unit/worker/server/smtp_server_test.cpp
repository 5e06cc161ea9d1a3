// SmtpServer on a real loop: connections accepted on an inherited listening socket, and what
// they count.
#include "test/support/installed_metrics.hpp"
#include "test/support/loopback.hpp"
#include "test/support/temp_dir.hpp"
#include "worker/server/smtp_server.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using upesi::test::TransportRecorder;

namespace {

// A socket bound to 127.0.0.1 at a port the kernel picks, as the master hands one down.
int boundSocket(sockaddr_in& address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  return fd;
}

} // namespace

TEST_CASE("smtp server: connections_total by listener, connections_open while sessions live") {
  upesi::test::InstalledMetrics metrics;
  upesi::test::Loopback loopback; // its loop, and clients that connect to `address`
  upesi::test::TempDir spool;
  upesi::smtp::SessionEnvironment env;
  env.loop = &loopback.loop;
  env.me = "mx.test";
  env.spool_dir = spool.str();
  env.hooks = std::make_shared<upesi::plugin::HookTable>();
  auto server = std::make_unique<upesi::worker::SmtpServer>(&loopback.loop, std::move(env));
  REQUIRE(server->adopt(boundSocket(loopback.address)));
  const std::string total = fmt::format("upesi_smtp_connections_total{{listener=\"127.0.0.1:{}\"}}",
                                        ntohs(loopback.address.sin_port));

  TransportRecorder first;
  TransportRecorder second;
  for (TransportRecorder* client : {&first, &second}) {
    loopback.connect(*client);
    REQUIRE(loopback.runUntil([&] { return client->received.find("220 ") != std::string::npos; }));
  }
  CHECK(metrics.value(total) == "2");
  CHECK(metrics.value("upesi_smtp_connections_open") == "2");

  first.transport->write("QUIT\r\n");
  REQUIRE(loopback.runUntil([&] { return first.gone.has_value(); }));
  first.transport->close();
  REQUIRE(loopback.runUntil([&] { return server->sessionCount() == 1; }));
  CHECK(metrics.value("upesi_smtp_connections_open") == "1");
  CHECK(metrics.value(total) == "2");

  server.reset(); // the session still open goes with it
  CHECK(metrics.value("upesi_smtp_connections_open") == "0");
  second.transport->close();
  loopback.spin();
}
