// ScannerExchange and MessagePump on a real loop: a message streamed from the thread pool to a
// loopback "daemon" in framed chunks, the answer read back; and the ways a daemon fails.
#include "plugins/support/scanner_exchange.hpp"
#include "test/support/fake_connection.hpp"
#include "test/support/fake_host.hpp"
#include "test/support/loopback.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <optional>

using namespace upesi;
using namespace upesi::plugins;

namespace {

// The daemon's side: records what arrives, answers once `answer_when` holds.
struct Daemon {
  test::TransportRecorder peer;
  std::function<bool(const std::string&)> answer_when;
  std::string answer;
  bool answered = false;
};

std::string framed(std::string chunk) {
  const auto n = static_cast<std::uint32_t>(chunk.size());
  std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                  static_cast<char>(n)};
  return out + chunk;
}

// The chunks' payload back from clamd framing: nullopt if the framing is broken.
std::optional<std::string> unframe(std::string_view bytes) {
  std::string out;
  while (bytes.size() >= 4) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::uint32_t n = (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    bytes.remove_prefix(4);
    if (n == 0) {
      return bytes.empty() ? std::optional(out) : std::nullopt;
    }
    if (n > bytes.size()) {
      return std::nullopt;
    }
    out.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
  return std::nullopt;
}

struct Fixture {
  test::Loopback net;
  test::FakeHost host;
  dns::MxResolver resolver{[](const std::string&, DnsType, DnsCallback done) {
    done(DnsResult{DnsStatus::Error, "no DNS in this test", {}});
  }};
  std::shared_ptr<test::FakeTransaction> txn = std::make_shared<test::FakeTransaction>("t.1");
  Daemon daemon;
  std::optional<ScannerOutcome> outcome;
  std::unique_ptr<ScannerExchange> exchange;

  Fixture() {
    host.attachLoop(&net.loop);
    txn->header_lines = {{"Subject", "scan me"}};
    net.on_accept = [this](uv_tcp_t* tcp) {
      daemon.peer.transport =
          std::make_unique<net::Transport>(&net.loop, tcp, daemon.peer, net::Transport::Options{});
      daemon.peer.transport->start();
    };
  }

  ScannerRequest request(std::uint16_t port) {
    ScannerRequest r;
    r.endpoint.host = "127.0.0.1";
    r.endpoint.port = port;
    r.connect_timeout = std::chrono::milliseconds(2000);
    r.idle_timeout = std::chrono::milliseconds(2000);
    return r;
  }

  void run(ScannerRequest r) {
    exchange = std::make_unique<ScannerExchange>(host, resolver, txn, std::move(r),
                                                 [this](ScannerOutcome o) {
                                                   outcome = std::move(o);
                                                   exchange.reset(); // allowed from done()
                                                 });
    exchange->start();
    REQUIRE(net.runUntil([&] {
      if (!daemon.answered && daemon.answer_when && daemon.answer_when(daemon.peer.received)) {
        daemon.answered = true;
        daemon.peer.transport->write(daemon.answer);
        daemon.peer.transport->closeAfterFlush();
      }
      return outcome.has_value();
    }));
  }

  ~Fixture() {
    exchange.reset();
    if (daemon.peer.transport) {
      daemon.peer.transport->close();
      net.runUntil([&] { return daemon.peer.closed; });
    }
  }
};

} // namespace

TEST_CASE("scanner exchange: a large message streams in framed chunks, the answer comes back") {
  Fixture f;
  f.txn->body = std::string(3 * 1024 * 1024 + 17, 'x') + "\r\n";
  f.txn->chunk_size = 10000;
  const std::string tail(4, '\0');
  f.daemon.answer_when = [&](const std::string& got) { return got.ends_with(tail); };
  f.daemon.answer = std::string("stream: OK\0", 11);
  auto r = f.request(ntohs(f.net.address.sin_port));
  r.head = [](std::uint64_t) { return std::string("zINSTREAM", 10); };
  r.frame = framed;
  r.tail = tail;
  r.pump.chunk_size = 64 * 1024;
  r.pump.max_buffered = 128 * 1024;
  r.complete = [](std::string_view a) { return a.find('\0') != std::string_view::npos; };
  f.run(std::move(r));

  REQUIRE(f.outcome->failure == ScannerOutcome::Failure::None);
  CHECK(f.outcome->answer == std::string("stream: OK\0", 11));
  const std::string& got = f.daemon.peer.received;
  REQUIRE(got.starts_with(std::string("zINSTREAM", 10)));
  auto payload = unframe(std::string_view(got).substr(10));
  REQUIRE(payload);
  CHECK(*payload == "Subject: scan me\r\n\r\n" + f.txn->body);
}

TEST_CASE("scanner exchange: the head gets the measured size; the answer ends at EOF") {
  Fixture f;
  f.txn->body = "hello\r\n";
  f.daemon.answer_when = [](const std::string& got) { return got.ends_with("hello\r\n"); };
  f.daemon.answer = "SPAMD/1.1 0 EX_OK\r\n\r\n";
  auto r = f.request(ntohs(f.net.address.sin_port));
  r.head = [](std::uint64_t size) { return fmt::format("size {}\r\n", size); };
  r.pump.measure = true;
  f.run(std::move(r));
  REQUIRE(f.outcome->failure == ScannerOutcome::Failure::None);
  CHECK(f.outcome->answer == "SPAMD/1.1 0 EX_OK\r\n\r\n");
  CHECK(f.daemon.peer.received == "size 27\r\nSubject: scan me\r\n\r\nhello\r\n");
}

TEST_CASE("scanner exchange: silence, refusal, a long answer, an unreadable message") {
  SUBCASE("a daemon that never answers times out") {
    Fixture f;
    f.txn->body = "x\r\n";
    auto r = f.request(ntohs(f.net.address.sin_port));
    r.idle_timeout = std::chrono::milliseconds(100);
    f.run(std::move(r));
    CHECK(f.outcome->failure == ScannerOutcome::Failure::Timeout);
    CHECK(f.outcome->connected);
  }
  SUBCASE("nobody listening") {
    Fixture f;
    auto r = f.request(1);
    f.run(std::move(r));
    CHECK(f.outcome->failure == ScannerOutcome::Failure::Connect);
    CHECK_FALSE(f.outcome->connected);
  }
  SUBCASE("an answer past max_answer") {
    Fixture f;
    f.txn->body = "x\r\n";
    f.daemon.answer_when = [](const std::string& got) { return !got.empty(); };
    f.daemon.answer = std::string(5000, 'a');
    auto r = f.request(ntohs(f.net.address.sin_port));
    r.max_answer = 4096;
    f.run(std::move(r));
    CHECK(f.outcome->failure == ScannerOutcome::Failure::TooLong);
  }
  SUBCASE("the message cannot be read") {
    Fixture f;
    f.txn->fail_write = true;
    auto r = f.request(ntohs(f.net.address.sin_port));
    f.run(std::move(r));
    CHECK(f.outcome->failure == ScannerOutcome::Failure::Reading);
  }
  SUBCASE("a unix socket path is refused until the transport has pipes") {
    Fixture f;
    auto r = f.request(0);
    r.endpoint.path = "/nonexistent/scanner.sock";
    f.run(std::move(r));
    CHECK(f.outcome->failure == ScannerOutcome::Failure::Connect);
  }
}
