// Resolver on a real loop against loopback servers: one that never answers (what its queries
// count), one that answers every A query (what the answer cache spares).
#include "common/dns/resolver.hpp"
#include "test/support/installed_metrics.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

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

// Answers every query on 127.0.0.1 with one A record, 127.0.0.9, of `ttl` seconds; counts them.
struct AnsweringServer {
  uv_udp_t udp{};
  std::uint16_t port = 0;
  int queries = 0;
  std::uint32_t ttl = 300;

  explicit AnsweringServer(uv_loop_t* loop) {
    REQUIRE(uv_udp_init(loop, &udp) == 0);
    udp.data = this;
    sockaddr_in address{};
    uv_ip4_addr("127.0.0.1", 0, &address);
    REQUIRE(uv_udp_bind(&udp, reinterpret_cast<const sockaddr*>(&address), 0) == 0);
    int length = sizeof address;
    uv_udp_getsockname(&udp, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
    uv_udp_recv_start(
        &udp,
        [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
          static char storage[512];
          *buf = uv_buf_init(storage, sizeof storage);
        },
        [](uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf, const sockaddr* from, unsigned) {
          if (nread < 12 || from == nullptr) {
            return;
          }
          auto* self = static_cast<AnsweringServer*>(handle->data);
          ++self->queries;
          std::string reply(buf->base, static_cast<std::size_t>(nread));
          std::size_t end = 12;
          while (end < reply.size() && reply[end] != 0) {
            end += 1 + static_cast<unsigned char>(reply[end]);
          }
          reply.resize(end + 5); // the question: its name, type and class
          reply[2] = static_cast<char>(0x81);
          reply[3] = static_cast<char>(0x80);
          reply[6] = 0;
          reply[7] = 1;                                    // one answer
          reply[8] = reply[9] = reply[10] = reply[11] = 0; // nothing else
          const unsigned char record[] = {0xC0,
                                          0x0C,
                                          0,
                                          1,
                                          0,
                                          1,
                                          static_cast<unsigned char>(self->ttl >> 24),
                                          static_cast<unsigned char>(self->ttl >> 16),
                                          static_cast<unsigned char>(self->ttl >> 8),
                                          static_cast<unsigned char>(self->ttl),
                                          0,
                                          4,
                                          127,
                                          0,
                                          0,
                                          9};
          reply.append(reinterpret_cast<const char*>(record), sizeof record);
          uv_buf_t out = uv_buf_init(reply.data(), static_cast<unsigned>(reply.size()));
          uv_udp_try_send(handle, &out, 1, from);
        });
  }
  ~AnsweringServer() { uv_close(reinterpret_cast<uv_handle_t*>(&udp), nullptr); }
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

TEST_CASE("resolver: one query serves concurrent askers, and its answer is kept for its TTL") {
  Loop l;
  AnsweringServer server(&l.loop);
  dns::ResolverOptions options;
  options.servers = fmt::format("127.0.0.1:{}", server.port);
  options.timeout_ms = 2000;
  options.tries = 1;
  auto resolver = dns::Resolver::create(&l.loop, options);
  REQUIRE(resolver);
  std::vector<DnsResult> answers;
  auto ask = [&](const char* name) {
    (*resolver)->query(name, DnsType::A, [&](DnsResult r) { answers.push_back(std::move(r)); });
  };
  auto runUntil = [&](std::size_t count) {
    const std::uint64_t deadline = uv_now(&l.loop) + 5000;
    // Without blocking: once the answer is in, only the server's socket is left to wait on.
    while (answers.size() < count && uv_now(&l.loop) < deadline) {
      uv_run(&l.loop, UV_RUN_NOWAIT);
      if (answers.size() < count) {
        ::usleep(1000);
        uv_update_time(&l.loop);
      }
    }
    REQUIRE(answers.size() == count);
  };
  ask("mx.example.test");
  ask("MX.example.test."); // the same question
  runUntil(2);
  CHECK(server.queries == 1);
  CHECK(answers[0].records.at(0).value == "127.0.0.9");
  CHECK(answers[1].records.at(0).value == "127.0.0.9");

  ask("mx.example.test");
  CHECK(answers.size() == 2); // from the cache, but never inside query()
  runUntil(3);
  CHECK(server.queries == 1);
  CHECK(answers[2].status == DnsStatus::Ok);

  SUBCASE("a zero TTL is asked again, and a cache of size 0 asks every time") {
    server.ttl = 0;
    ask("zero.example.test");
    runUntil(4);
    ask("zero.example.test");
    runUntil(5);
    CHECK(server.queries == 3);
    options.cache.max_entries = 0;
    auto uncached = dns::Resolver::create(&l.loop, options);
    REQUIRE(uncached);
    server.ttl = 300;
    for (int i = 0; i < 2; ++i) {
      (*uncached)->query("mx.example.test", DnsType::A,
                         [&](DnsResult r) { answers.push_back(std::move(r)); });
      runUntil(6 + static_cast<std::size_t>(i));
    }
    CHECK(server.queries == 5);
  }
  resolver->reset();
}
