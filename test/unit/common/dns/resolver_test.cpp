// Resolver on a real loop against a loopback server that never answers: what its queries count.
#include "common/dns/resolver.hpp"
#include "test/support/installed_metrics.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>
#include <unistd.h>

using namespace upesi;

namespace {

// A UDP socket on 127.0.0.1 that reads nothing: every query to it times out.
struct SilentServer {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  std::uint16_t port = 0;

  SilentServer() {
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port = ntohs(address.sin_port);
  }
  ~SilentServer() { ::close(fd); }
};

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
};

} // namespace

TEST_CASE("resolver: dns_query_duration_seconds by type, a timeout included, a cancel not") {
  test::InstalledMetrics metrics;
  SilentServer server;
  Loop l;
  dns::ResolverOptions options;
  options.servers = fmt::format("127.0.0.1:{}", server.port);
  options.timeout_ms = 50;
  options.tries = 1;
  {
    auto resolver = dns::Resolver::create(&l.loop, options);
    REQUIRE(resolver);
    std::optional<DnsResult> mx;
    std::optional<DnsResult> a;
    (*resolver)->query("example.test", DnsType::Mx, [&](DnsResult r) { mx = std::move(r); });
    (*resolver)->query("example.test", DnsType::A, [&](DnsResult r) { a = std::move(r); });
    const std::uint64_t deadline = uv_now(&l.loop) + 5000;
    while ((!mx || !a) && uv_now(&l.loop) < deadline) {
      uv_run(&l.loop, UV_RUN_ONCE);
    }
    REQUIRE(mx);
    REQUIRE(a);
    CHECK((mx->status == DnsStatus::Timeout));
  }
  CHECK(metrics.value("upesi_dns_query_duration_seconds_count{type=\"MX\"}") == "1");
  CHECK(metrics.value("upesi_dns_query_duration_seconds_count{type=\"A\"}") == "1");
  CHECK(std::stod(metrics.value("upesi_dns_query_duration_seconds_sum{type=\"MX\"}")) >= 0.045);
  {
    auto resolver = dns::Resolver::create(&l.loop, options);
    REQUIRE(resolver);
    bool called = false;
    (*resolver)->query("example.test", DnsType::Txt, [&](DnsResult) { called = true; });
    resolver->reset(); // cancels the query: its callback runs, nothing is observed
    CHECK(called);
  }
  CHECK(metrics.value("upesi_dns_query_duration_seconds_count{type=\"TXT\"}") == "0");
}
