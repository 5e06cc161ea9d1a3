// The SMTP session on a real loop, over loopback TCP, with plugins registered in the test: no
// binary, no config files.
#include "common/config/config.hpp"
#include "common/plugin/hook_table.hpp"
#include "common/tls/tls_channel.hpp"
#include "common/tls/tls_context.hpp"
#include "test/support/installed_metrics.hpp"
#include "test/support/loopback.hpp"
#include "test/support/self_signed.hpp"
#include "test/support/temp_dir.hpp"
#include "worker/smtp/session.hpp"

#include <doctest/doctest.h>
#include <openssl/pem.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

using upesi::Code;
using upesi::Connection;
using upesi::Hook;
using upesi::HookParams;
using upesi::Next;
using upesi::plugin::HookTable;
using upesi::smtp::Session;
using upesi::smtp::SessionEnvironment;
using upesi::test::TransportRecorder;

namespace {

// A listener whose connections become sessions; the test decides which plugins run.
struct SessionServer : upesi::test::Loopback {
  upesi::test::TempDir spool;
  std::shared_ptr<HookTable> hooks = std::make_shared<HookTable>();
  SessionEnvironment env;
  std::map<Session*, std::unique_ptr<Session>> sessions;
  int closed = 0;

  SessionServer() {
    env.loop = &loop;
    env.me = "mx.test";
    env.spool_dir = spool.str();
    env.on_closed = [this](Session* session) {
      ++closed;
      // Deleted on a later turn, as the worker does; never inside the session's own call.
      auto* idle = new uv_idle_t{};
      uv_idle_init(&loop, idle);
      idle->data = new std::unique_ptr<Session>(std::move(sessions[session]));
      sessions.erase(session);
      uv_idle_start(idle, [](uv_idle_t* handle) {
        delete static_cast<std::unique_ptr<Session>*>(handle->data);
        uv_idle_stop(handle);
        uv_close(reinterpret_cast<uv_handle_t*>(handle),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
      });
    };
    on_accept = [this](uv_tcp_t* tcp) {
      env.hooks = hooks;
      auto session = std::make_unique<Session>(env, tcp);
      auto* raw = session.get();
      sessions.emplace(raw, std::move(session));
      raw->start();
    };
  }
  ~SessionServer() {
    spin(5); // sessions closed on the last turn are deleted on this one
    sessions.clear();
  }

  /// Connects and waits for the greeting.
  void connect(TransportRecorder& client) {
    Loopback::connect(client);
    REQUIRE(runUntil([&] { return client.received.find("\r\n") != std::string::npos; }));
  }

  /// Sends `commands` at once and waits until the reply text contains `until`.
  std::string exchange(TransportRecorder& client, const std::string& commands,
                       const std::string& until) {
    const std::size_t from = client.received.size();
    client.transport->write(commands);
    REQUIRE(runUntil([&] { return client.received.find(until, from) != std::string::npos; }));
    return client.received.substr(from);
  }
};

} // namespace

TEST_CASE("session: greets, answers pipelined commands in order, and closes after QUIT") {
  SessionServer server;
  TransportRecorder client;
  server.connect(client);
  CHECK(client.received.rfind("220 mx.test ESMTP Upesi ready (", 0) == 0);
  const std::string replies =
      server.exchange(client, "EHLO client.test\r\nNOOP\r\nHELP\r\nQUIT\r\n", "221 ");
  CHECK(replies.rfind("250-mx.test Hello localhost [127.0.0.1], ", 0) == 0);
  CHECK(replies.find("250-PIPELINING\r\n") != std::string::npos);
  const auto noop = replies.find("250 2.0.0 OK\r\n");
  const auto help = replies.find("214 2.0.0 Commands:");
  const auto quit = replies.find("221 2.0.0 mx.test closing connection.");
  REQUIRE(noop != std::string::npos);
  REQUIRE(help != std::string::npos);
  REQUIRE(quit != std::string::npos);
  CHECK((noop < help && help < quit));
  REQUIRE(server.runUntil([&] { return client.gone.has_value() && server.closed == 1; }));
  CHECK(client.gone->cause == upesi::net::PeerGone::Cause::Eof);
  client.transport->close();
  REQUIRE(server.runUntil([&] { return client.closed && server.sessions.empty(); }));
}

TEST_CASE("session: a plugin answering later reads the hook's arguments it was given") {
  SessionServer server;
  HookTable::PluginRegistrar plugin(*server.hooks, "later", 0, std::chrono::seconds(30));
  std::vector<std::string> seen;
  // The rcpt hook answers from a timer, after the session has read (and replied to) more.
  plugin.registerHook(
      Hook::Rcpt,
      [&](Next next, Connection& /*connection*/, const HookParams& params) {
        auto* timer = new uv_timer_t{};
        uv_timer_init(&server.loop, timer);
        timer->data = new std::function<void()>([&seen, &params, next]() mutable {
          seen.push_back(params.address->format());
          next(params.address->user == "nobody" ? Code::Deny : Code::Ok);
        });
        uv_timer_start(
            timer,
            [](uv_timer_t* t) {
              auto* fire = static_cast<std::function<void()>*>(t->data);
              (*fire)();
              delete fire;
              uv_close(reinterpret_cast<uv_handle_t*>(t),
                       [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
            },
            20, 0);
      },
      0, "hook_rcpt");
  TransportRecorder client;
  server.connect(client);
  const std::string replies =
      server.exchange(client,
                      "EHLO client.test\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<a@example.com>\r\n"
                      "RCPT TO:<nobody@example.com>\r\nRCPT TO:<b@example.com>\r\nRSET\r\n",
                      "250 2.0.0 OK");
  CHECK(seen ==
        std::vector<std::string>{"<a@example.com>", "<nobody@example.com>", "<b@example.com>"});
  CHECK(replies.find("250 2.1.5 recipient <a@example.com> OK") != std::string::npos);
  CHECK(replies.find("550 5.7.1 recipient <nobody@example.com> denied") != std::string::npos);
  CHECK(replies.find("250 2.1.5 recipient <b@example.com> OK") != std::string::npos);
  client.transport->close();
  REQUIRE(server.runUntil([&] { return server.closed == 1 && client.closed; }));
}

TEST_CASE("session: a client that leaves mid-transaction gets the disconnect hook and no more") {
  SessionServer server;
  HookTable::PluginRegistrar plugin(*server.hooks, "watcher", 0, std::chrono::seconds(30));
  int disconnects = 0;
  plugin.registerHook(
      Hook::Disconnect,
      [&](Next next, Connection& connection, const HookParams&) {
        ++disconnects;
        CHECK(connection.transaction() == nullptr); // reset before disconnect runs
        next(Code::Cont);
      },
      0, "hook_disconnect");
  TransportRecorder client;
  server.connect(client);
  server.exchange(client, "EHLO client.test\r\nMAIL FROM:<s@client.test>\r\n", "250 2.1.0");
  client.transport->close();
  REQUIRE(server.runUntil([&] { return server.closed == 1 && server.sessions.empty(); }));
  CHECK(disconnects == 1);
}

TEST_CASE("session: a line over max_line_length is refused and the connection closed") {
  SessionServer server;
  server.env.limits.max_line_length = 64;
  TransportRecorder client;
  server.connect(client);
  const std::string replies =
      server.exchange(client, "NOOP " + std::string(100, 'x') + "\r\n", "500 5.5.2");
  CHECK(replies.find("Line too long") != std::string::npos);
  REQUIRE(server.runUntil([&] { return client.gone.has_value() && server.closed == 1; }));
  client.transport->close();
  REQUIRE(server.runUntil([&] { return client.closed; }));
}

TEST_CASE("session: counts transactions, recipients and messages, refusals by class and plugin") {
  upesi::test::InstalledMetrics metrics; // first: the environment keeps handles into it
  SessionServer server;
  HookTable::PluginRegistrar rcpt(*server.hooks, "rcpt_check", 0, std::chrono::seconds(30));
  rcpt.registerHook(
      Hook::Rcpt,
      [](Next next, Connection&, const HookParams& params) {
        const std::string& user = params.address->user;
        next(user == "nobody" ? Code::Deny : user == "later" ? Code::DenySoft : Code::Ok);
      },
      0, "hook_rcpt");
  HookTable::PluginRegistrar content(*server.hooks, "content", 1, std::chrono::seconds(30));
  content.registerHook(
      Hook::DataPost,
      [](Next next, Connection& connection, const HookParams&) {
        next(connection.transaction()->rcptTo().front().user == "reject" ? Code::Deny : Code::Cont);
      },
      0, "hook_data_post");
  HookTable::PluginRegistrar queue(*server.hooks, "sink", 2, std::chrono::seconds(30));
  queue.registerHook(
      Hook::Queue, [](Next next, Connection&, const HookParams&) { next(Code::Ok); }, 0,
      "hook_queue");
  TransportRecorder client;
  server.connect(client);
  std::string replies = server.exchange(
      client,
      "EHLO client.test\r\nMAIL FROM:<s@client.test>\r\nRCPT TO:<a@example.com>\r\n"
      "RCPT TO:<nobody@example.com>\r\nRCPT TO:<later@example.com>\r\nRCPT TO:<>\r\n"
      "DATA\r\n",
      "354 ");
  replies += server.exchange(client, "Subject: one\r\n\r\n..dot\r\n.\r\n", "250 2.0.0");
  replies += server.exchange(client,
                             "MAIL FROM:<s@client.test>\r\nRCPT TO:<reject@example.com>\r\n"
                             "DATA\r\n",
                             "354 ");
  replies += server.exchange(client, "Subject: two\r\n\r\nbody\r\n.\r\n", "550 ");
  CHECK(replies.find("550 5.7.1 recipient <nobody@example.com> denied") != std::string::npos);
  CHECK(replies.find("450 4.7.1 recipient <later@example.com> denied") != std::string::npos);
  CHECK(replies.find("501 5.1.3 Invalid RCPT TO address") != std::string::npos);
  CHECK(metrics.value("upesi_smtp_transactions_total") == "2");
  CHECK(metrics.value("upesi_smtp_recipients_accepted_total") == "2");
  // A plugin's series of both classes exist from its first refusal.
  CHECK(metrics.samples("upesi_smtp_recipients_rejected_total") ==
        "upesi_smtp_recipients_rejected_total{class=\"4xx\",plugin=\"core\"} 0\n"
        "upesi_smtp_recipients_rejected_total{class=\"4xx\",plugin=\"rcpt_check\"} 1\n"
        "upesi_smtp_recipients_rejected_total{class=\"5xx\",plugin=\"core\"} 1\n"
        "upesi_smtp_recipients_rejected_total{class=\"5xx\",plugin=\"rcpt_check\"} 1\n");
  CHECK(metrics.value("upesi_smtp_messages_accepted_total") == "1");
  CHECK(metrics.samples("upesi_smtp_messages_rejected_total") ==
        "upesi_smtp_messages_rejected_total{class=\"4xx\",plugin=\"content\"} 0\n"
        "upesi_smtp_messages_rejected_total{class=\"5xx\",plugin=\"content\"} 1\n");
  // The accepted message as stored: "Subject: one", the empty line and ".dot" unstuffed, CRLFs.
  CHECK(metrics.value("upesi_smtp_received_bytes_total") == "22");
  client.transport->close();
  REQUIRE(server.runUntil([&] { return server.closed == 1 && client.closed; }));
}

TEST_CASE("session: counts AUTH successes and failures") {
  upesi::test::InstalledMetrics metrics;
  SessionServer server;
  server.env.limits.auth_requires_tls = false;
  server.env.limits.auth_failure_delay_s = 0;
  HookTable::PluginRegistrar auth(*server.hooks, "auth_test", 0, std::chrono::seconds(30));
  auth.registerHook(
      Hook::Capabilities,
      [](Next next, Connection& connection, const HookParams&) {
        connection.capabilities().push_back("AUTH PLAIN");
        next();
      },
      0, "hook_capabilities");
  auth.registerHook(
      Hook::Auth,
      [](Next next, Connection&, const HookParams& params) {
        next(params.auth->user == "good" ? Code::Ok : Code::Deny);
      },
      0, "hook_auth");
  TransportRecorder client;
  server.connect(client);
  server.exchange(client, "EHLO client.test\r\n", "250 ");
  server.exchange(client, "AUTH PLAIN AGJhZABwdw==\r\n", "535 ");
  server.exchange(client, "AUTH PLAIN AGJhZABwdw==\r\n", "535 ");
  server.exchange(client, "AUTH PLAIN AGdvb2QAcHc=\r\n", "235 ");
  CHECK(metrics.value("upesi_smtp_auth_failures_total") == "2");
  CHECK(metrics.value("upesi_smtp_auth_successes_total") == "1");
  client.transport->close();
  REQUIRE(server.runUntil([&] { return server.closed == 1 && client.closed; }));
}

TEST_CASE("session: a completed TLS handshake counts by protocol") {
  upesi::test::InstalledMetrics metrics;
  upesi::test::TempDir config_dir;
  SSL_CTX* made = upesi::test::selfSignedServerContext();
  {
    FILE* key = std::fopen((config_dir.path() / "tls_key.pem").c_str(), "w");
    FILE* cert = std::fopen((config_dir.path() / "tls_cert.pem").c_str(), "w");
    REQUIRE(key != nullptr);
    REQUIRE(cert != nullptr);
    PEM_write_PrivateKey(key, SSL_CTX_get0_privatekey(made), nullptr, nullptr, 0, nullptr, nullptr);
    PEM_write_X509(cert, SSL_CTX_get0_certificate(made));
    std::fclose(key);
    std::fclose(cert);
  }
  SSL_CTX_free(made);
  upesi::config::Config config(config_dir.path(), config_dir.path());
  upesi::tls::TlsConfig settings;
  settings.server.min_version = "TLSv1.3";
  auto server_tls = upesi::tls::ServerTls::load(config, settings);
  const std::string why = server_tls.ok() ? std::string() : server_tls.error();
  REQUIRE_MESSAGE(server_tls.ok(), why);
  SSL_CTX* client_context = SSL_CTX_new(TLS_client_method());
  {
    SessionServer server;
    server.env.tls = *server_tls;
    server.env.smtps_port = ntohs(server.address.sin_port); // TLS from the first byte
    TransportRecorder client;
    server.Loopback::connect(client);
    auto channel = upesi::tls::TlsChannel::client(client_context, "localhost", false);
    REQUIRE(channel.ok());
    client.transport->startTls(std::move(*channel));
    REQUIRE(server.runUntil([&] { return client.received.find("220 ") != std::string::npos; }));
    CHECK(metrics.samples("upesi_tls_handshakes_total") ==
          "upesi_tls_handshakes_total{protocol=\"TLSv1.3\"} 1\n");
    client.transport->close();
    REQUIRE(server.runUntil([&] { return server.closed == 1 && client.closed; }));
  }
  SSL_CTX_free(client_context);
}
