// Delivery on a real loop: a queue file written as the engine writes one, MX answers from a
// table, a scripted next hop on loopback, and a DeliveryContext that records what the delivery
// tells the engine (its outcome, the messages it queues) and which outbound hooks it runs.
//
// DNS gives an MX no port, so the next hop is named as an operator names one on another port:
// a get_mx hook answers "mx.example.net:<port>", and the table gives mx.example.net 127.0.0.1.
#include "common/queue/queue_file.hpp"
#include "common/queue/queue_file_name.hpp"
#include "common/util/clock.hpp"
#include "common/util/loop_timer.hpp"
#include "test/support/fake_connection.hpp"
#include "test/support/fake_dns.hpp"
#include "test/support/scripted_smtp_server.hpp"
#include "test/support/temp_dir.hpp"
#include "worker/outbound/delivery.hpp"
#include "worker/outbound/queue_writer_job.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace upesi;
using namespace upesi::outbound;
using upesi::test::FakeDns;
using upesi::test::FakeTransaction;
using upesi::test::Loop;
using upesi::test::makeAddress;
using upesi::test::ScriptedServer;
using upesi::test::TempDir;

namespace {

// The first retry of the default schedule (max_temp_failures = 13): 2^6 s.
constexpr std::int64_t FirstRetryMs = 64 * 1000;

std::string joined(const std::vector<Address>& addresses) {
  std::string out;
  for (const auto& address : addresses) {
    out += (out.empty() ? "" : " ") + address.address();
  }
  return out;
}

// All a delivery sees of an engine, with the defaults of a configuration that sets nothing
// (retries, bounce template, limits), no TLS, and every admission granted.
class RecordingContext final : public DeliveryContext {
public:
  RecordingContext(uv_loop_t* loop, std::filesystem::path queue_dir)
      : loop_(loop), resolver_(dns.lookup()), pool_(loop) {
    config_.queue_dir = std::move(queue_dir);
    for (Hook hook :
         {Hook::SendEmail, Hook::GetMx, Hook::Delivered, Hook::Deferred, Hook::Bounce}) {
      registrar_.registerHook(
          hook,
          [this, hook](Next next, Connection&, const HookParams& params) {
            record(hook, params);
            if (hook == Hook::GetMx && !next_hop.empty()) {
              next(Code::Ok, next_hop);
              return;
            }
            next();
          },
          0, "record");
    }
  }

  uv_loop_t* loop() override { return loop_; }
  const plugin::HookTable& hooks() const override { return hooks_; }
  const config::OutboundConfig& config() const override { return config_; }
  const RetrySchedule& retries() const override { return retries_; }
  const std::string& me() const override { return me_; }
  const std::string& bounceTemplate() const override { return bounce_template_; }
  const dns::MxResolver& mxResolver() const override { return resolver_; }
  TlsPolicy* tlsPolicy() override { return nullptr; }
  ConnectionPool& pool() override { return pool_; }
  bool admit(const std::string&, const std::string&) override { return true; }
  std::optional<dns::MxHost> localNextHop(const std::string& domain) const override {
    return domain == local_domain ? local_hop : std::nullopt;
  }
  void messageSent(const std::string&) override {}
  void awaitingTurn(const std::string&, bool) override {}

  void enqueueMessage(const Address& from, const std::vector<Address>& to, std::string message,
                      nlohmann::json, QueuedCallback done) override {
    queued.push_back({from, to, std::move(message)});
    done(Code::Ok, "Message Queued (notice)");
  }

  void deliveryDone(const std::string& name, DeliveryOutcome outcome) override {
    done_names.push_back(name);
    outcomes.push_back(std::move(outcome));
  }

  struct Queued {
    Address from;
    std::vector<Address> to;
    std::string message;
  };

  FakeDns dns;
  std::string next_hop;     // get_mx's answer; empty: CONT, so the MX comes from DNS
  std::string local_domain; // outbound.ini deliver_host_list_locally: a host_list domain
  std::optional<dns::MxHost> local_hop; // ... and this server's listener
  std::vector<std::string> hooks_run;   // "get_mx example.net", "delivered a@example.net", ...
  std::optional<DeferredInfo> deferred;
  std::optional<BounceInfo> bounced;
  std::vector<Queued> queued;
  std::vector<std::string> done_names;
  std::vector<DeliveryOutcome> outcomes;

private:
  void record(Hook hook, const HookParams& params) {
    std::string line(toString(hook));
    if (params.delivered != nullptr) {
      line += " " + joined(params.delivered->ok_recips);
    } else if (params.deferred != nullptr) {
      deferred = *params.deferred;
      line += " " + joined(params.deferred->fail_recips);
    } else if (params.bounce != nullptr) {
      bounced = *params.bounce;
      std::vector<Address> recipients = params.bounce->bounced_rcpt;
      recipients.insert(recipients.end(), params.bounce->deferred_rcpt.begin(),
                        params.bounce->deferred_rcpt.end());
      line += " " + joined(recipients);
    } else if (!params.domain.empty()) {
      line += " " + std::string(params.domain);
    }
    hooks_run.push_back(line);
  }

  uv_loop_t* loop_;
  plugin::HookTable hooks_;
  plugin::HookTable::PluginRegistrar registrar_{hooks_, "recorder", 0, std::chrono::seconds(5)};
  config::OutboundConfig config_;
  RetrySchedule retries_;
  std::string me_ = "upesi.test";
  std::string bounce_template_; // none configured: the built-in one
  dns::MxResolver resolver_;
  ConnectionPool pool_;
};

// A loopback port the kernel picked, bound and never listened on: a connect there is refused.
class RefusingPort {
public:
  RefusingPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  int port() const { return port_; }

private:
  int fd_;
  int port_ = 0;
};

// One delivery's world. Members are destroyed in reverse: the delivery, then the context (its
// pool says QUIT to what it keeps), then the peer, and the loop last, checked clean.
struct DeliveryTest {
  Loop l;
  TempDir queue_dir;
  ScriptedServer peer{&l.loop};
  RecordingContext context{&l.loop, queue_dir.path()};
  std::shared_ptr<Delivery> delivery;

  DeliveryTest() {
    context.dns.setAddresses("mx.example.net", DnsType::A, {"127.0.0.1"});
    context.next_hop = fmt::format("mx.example.net:{}", peer.port);
  }

  // Runs the loop until `done` or 10 s have passed; says whether `done` came.
  bool runUntil(const std::function<bool()>& done) { return l.runUntil(done); }

  // Queues a message from alice@client.example to `users` at example.net as the engine queues
  // a relayed transaction, and gives the queue file's name.
  std::string queue(const std::vector<std::string>& users) {
    auto txn = std::make_shared<FakeTransaction>("A1B2C3D4-0000-4000-8000-00000000DE11.1");
    txn->mail_from = makeAddress("alice", "client.example");
    for (const auto& user : users) {
      txn->rcpt_to.push_back(makeAddress(user, "example.net"));
    }
    txn->header_lines = {{"From", "<alice@client.example>"}, {"Subject", "hello"}};
    txn->body = "Hi.\r\n.dotted line\r\n";
    auto files = planQueueFiles(*txn, context.config(), "test.example");
    REQUIRE(files.size() == 1);
    std::optional<Result<std::vector<QueuedFile>>> written;
    writeQueueFiles(&l.loop, txn, files, queue_dir.str(),
                    [&written](auto result) { written = std::move(result); });
    REQUIRE(runUntil([&written] { return written.has_value(); }));
    REQUIRE(written->ok());
    return files[0].name;
  }

  // Delivers `name` once and gives what the delivery reported.
  const DeliveryOutcome& deliver(const std::string& name) {
    delivery = std::make_shared<Delivery>(context, name);
    delivery->start();
    REQUIRE(runUntil([this] { return !context.outcomes.empty(); }));
    REQUIRE(context.outcomes.size() == 1);
    CHECK(context.done_names == std::vector<std::string>{name});
    return context.outcomes.front();
  }

  // The queue file is due again as its first retry: renamed for it, or rewritten (`rcpt_to` the
  // recipients it keeps), and nothing else is left in the queue directory.
  void checkDueAgain(const DeliveryOutcome& outcome, std::int64_t started_ms,
                     const std::vector<std::string>& rcpt_to) {
    CHECK(outcome.file == DeliveryOutcome::File::Due);
    CHECK(outcome.due_ms >= started_ms + FirstRetryMs);
    CHECK(outcome.due_ms <= epochMs() + FirstRetryMs);
    auto parsed = queue::QueueFileName::parse(outcome.name);
    REQUIRE(parsed.ok());
    CHECK(parsed->attempts == 1);
    CHECK(parsed->next_attempt_ms == outcome.due_ms);
    CHECK(queue_dir.entries() == std::vector<std::string>{outcome.name});
    auto header = queue::readHeader((queue_dir.path() / outcome.name).string());
    REQUIRE(header.ok());
    std::vector<std::string> kept;
    for (const auto& json : header->todo.rcpt_to) {
      kept.push_back(queue::addressFromJson(json)->address());
    }
    CHECK(kept == rcpt_to);
  }

  /// Checks that the one recipient of a message queued as {"a"} was deferred (not delivered,
  /// not bounced, the deferred hook told) and returns the reason the hook was given.
  std::string deferredAlone(const DeliveryOutcome& outcome, std::int64_t started_ms) {
    CHECK(outcome.counts.delivered == 0);
    CHECK(outcome.counts.deferred == 1);
    CHECK(outcome.counts.bounced == 0);
    checkDueAgain(outcome, started_ms, {"a@example.net"});
    CHECK(context.hooks_run ==
          std::vector<std::string>{"send_email", "get_mx example.net", "deferred a@example.net"});
    CHECK(context.queued.empty());
    REQUIRE(context.deferred.has_value());
    return context.deferred->error;
  }
};

} // namespace

TEST_CASE("delivery: every recipient taken: delivered, the file removed") {
  DeliveryTest t;
  const std::string name = t.queue({"a", "b"});
  const DeliveryOutcome& outcome = t.deliver(name);

  CHECK(outcome.file == DeliveryOutcome::File::Done);
  CHECK(outcome.counts.delivered == 1);
  CHECK(outcome.counts.deferred == 0);
  CHECK(outcome.counts.bounced == 0);
  CHECK(t.queue_dir.entries().empty());
  CHECK(t.context.hooks_run == std::vector<std::string>{"send_email", "get_mx example.net",
                                                        "delivered a@example.net b@example.net"});
  CHECK(t.context.dns.asked == std::vector<std::string>{"A mx.example.net"});
  CHECK(t.context.queued.empty());

  CHECK(t.peer.received.starts_with("EHLO upesi.test\r\n"));
  CHECK(t.peer.received.find("MAIL FROM:<alice@client.example>") != std::string::npos);
  CHECK(t.peer.received.find("RCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n") !=
        std::string::npos);
  // The message as queued, still dot-stuffed on the wire, and ended.
  CHECK(t.peer.received.find("Subject: hello\r\n\r\nHi.\r\n..dotted line\r\n.\r\n") !=
        std::string::npos);
  CHECK(t.peer.saw_dot);
  CHECK(t.peer.mails == 1);
}

TEST_CASE("delivery: one recipient deferred, one taken: the deferred one is kept, due again") {
  DeliveryTest t;
  t.peer.answer = [](const std::string& line) -> std::string {
    return line == "RCPT TO:<b@example.net>" ? "451 4.2.1 b is busy\r\n" : "";
  };
  const std::string name = t.queue({"a", "b"});
  const std::int64_t started_ms = epochMs();
  const DeliveryOutcome& outcome = t.deliver(name);

  CHECK(outcome.counts.delivered == 1);
  CHECK(outcome.counts.deferred == 1);
  CHECK(outcome.counts.bounced == 0);
  CHECK(outcome.name != name);
  t.checkDueAgain(outcome, started_ms, {"b@example.net"});
  auto header = queue::readHeader((t.queue_dir.path() / outcome.name).string());
  REQUIRE(header.ok());
  CHECK(header->todo.rcpt_to.at(0)["dsn_status"] == "4.2.1");
  CHECK(t.context.hooks_run == std::vector<std::string>{"send_email", "get_mx example.net",
                                                        "delivered a@example.net",
                                                        "deferred b@example.net"});
  REQUIRE(t.context.deferred.has_value());
  CHECK(t.context.deferred->delay_s == FirstRetryMs / 1000);
  CHECK(t.context.deferred->error.find("b is busy") != std::string::npos);
  CHECK(t.context.deferred->mx == "mx.example.net");
  CHECK(t.context.queued.empty());

  CHECK(t.peer.received.find("RCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n") !=
        std::string::npos);
  CHECK(t.peer.saw_dot);
}

TEST_CASE("delivery: every recipient refused for good: bounced to the sender, the file removed") {
  DeliveryTest t;
  t.peer.answer = [](const std::string& line) -> std::string {
    if (line.starts_with("RCPT")) {
      return "550 5.1.1 no such user\r\n";
    }
    return line == "DATA" ? "554 5.5.1 no valid recipients\r\n" : "";
  };
  const std::string name = t.queue({"a", "b"});
  const DeliveryOutcome& outcome = t.deliver(name);

  CHECK(outcome.file == DeliveryOutcome::File::Done);
  CHECK(outcome.counts.delivered == 0);
  CHECK(outcome.counts.deferred == 0);
  CHECK(outcome.counts.bounced == 1);
  CHECK(t.queue_dir.entries().empty());
  CHECK(t.context.hooks_run == std::vector<std::string>{"send_email", "get_mx example.net",
                                                        "bounce a@example.net b@example.net"});
  REQUIRE(t.context.bounced.has_value());
  CHECK(t.context.bounced->deferred_rcpt.empty());
  CHECK(t.context.bounced->mx == "mx.example.net");

  // One DSN, from <> to the sender, about both recipients, with the original's header.
  REQUIRE(t.context.queued.size() == 1);
  const auto& dsn = t.context.queued.front();
  CHECK(dsn.from.is_null);
  REQUIRE(dsn.to.size() == 1);
  CHECK(dsn.to.front().address() == "alice@client.example");
  for (const char* recipient : {"a@example.net", "b@example.net"}) {
    CAPTURE(recipient);
    CHECK(dsn.message.find(fmt::format("Final-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: "
                                       "5.1.1\r\n",
                                       recipient)) != std::string::npos);
  }
  CHECK(dsn.message.find("Diagnostic-Code: smtp; 550 5.1.1 no such user") != std::string::npos);
  CHECK(dsn.message.find("Subject: hello") != std::string::npos);
  CHECK(dsn.message.find("To: <alice@client.example>\r\n") != std::string::npos);

  CHECK(t.peer.received.find("RCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\n") !=
        std::string::npos);
  CHECK(t.peer.received.find("Hi.") == std::string::npos); // no message was sent
  CHECK_FALSE(t.peer.saw_dot);
}

TEST_CASE("delivery: the next hop refuses the connection: deferred with the reason") {
  DeliveryTest t;
  RefusingPort refusing;
  t.context.next_hop = fmt::format("mx.example.net:{}", refusing.port());
  const std::string name = t.queue({"a"});
  const std::int64_t started_ms = epochMs();
  const DeliveryOutcome& outcome = t.deliver(name);

  const std::string error = t.deferredAlone(outcome, started_ms);
  CAPTURE(error);
  CHECK(error.starts_with("Tried all MXs: mx.example.net [127.0.0.1]: "));
  CHECK(error.find("refused") != std::string::npos);
  CHECK(t.peer.received.empty());
}

TEST_CASE("delivery: no answer to the MX question: deferred with the reason, nothing sent") {
  DeliveryTest t;
  t.context.next_hop.clear(); // get_mx says CONT: the MX comes from DNS
  t.context.dns.set("example.net", DnsType::Mx, {DnsStatus::Timeout, "timed out", {}});
  const std::string name = t.queue({"a"});
  const std::int64_t started_ms = epochMs();
  const DeliveryOutcome& outcome = t.deliver(name);

  CHECK(t.deferredAlone(outcome, started_ms) == "DNS lookup failure for example.net: timed out");
  CHECK(t.context.dns.asked == std::vector<std::string>{"MX example.net"});
  CHECK(t.context.deferred->mx.empty()); // no MX was tried
  CHECK(t.peer.received.empty());
}

TEST_CASE("delivery: the next hop drops the connection in the message: deferred") {
  DeliveryTest t;
  t.peer.drop_in_data = true;
  const std::string name = t.queue({"a"});
  const std::int64_t started_ms = epochMs();
  const DeliveryOutcome& outcome = t.deliver(name);

  const std::string error = t.deferredAlone(outcome, started_ms);
  CAPTURE(error);
  CHECK(error.starts_with("Tried all MXs: mx.example.net [127.0.0.1]: "));
  CHECK(error.find("closed") != std::string::npos);

  CHECK(t.peer.received.find("RCPT TO:<a@example.net>\r\nDATA\r\n") != std::string::npos);
  CHECK(t.peer.received.find("Subject: hello") != std::string::npos); // the message had begun
  CHECK_FALSE(t.peer.saw_dot);
}

TEST_CASE("delivery: a host_list domain goes to this server's listener, no DNS asked") {
  DeliveryTest t;
  t.context.next_hop.clear(); // get_mx says CONT
  t.context.local_domain = "example.net";
  dns::MxHost self;
  self.exchange = "127.0.0.1";
  self.port = static_cast<std::uint16_t>(t.peer.port);
  t.context.local_hop = self;
  const std::string name = t.queue({"a"});
  const DeliveryOutcome& outcome = t.deliver(name);

  CHECK(outcome.file == DeliveryOutcome::File::Done);
  CHECK(outcome.counts.delivered == 1);
  CHECK(t.context.dns.asked.empty());
  CHECK(t.context.hooks_run ==
        std::vector<std::string>{"send_email", "get_mx example.net", "delivered a@example.net"});
  CHECK(t.peer.received.find("RCPT TO:<a@example.net>\r\n") != std::string::npos);
}

TEST_CASE("delivery: a get_mx answer wins over delivering a host_list domain here") {
  DeliveryTest t;
  t.context.local_domain = "example.net";
  dns::MxHost nowhere;
  nowhere.exchange = "127.0.0.1";
  nowhere.port = static_cast<std::uint16_t>(RefusingPort().port());
  t.context.local_hop = nowhere;
  const std::string name = t.queue({"a"});
  const DeliveryOutcome& outcome = t.deliver(name);

  CHECK(outcome.counts.delivered == 1);
  CHECK(t.context.dns.asked == std::vector<std::string>{"A mx.example.net"});
}
