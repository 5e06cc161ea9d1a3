// A small scripted SMTP server on the test's own loop, on a loopback port the kernel picks, for
// the tests of whatever talks SMTP to a next hop (the client, a delivery); the client options
// and envelopes the client's tests use, and a loop that must close clean.
#pragma once

#include "common/smtp_client/smtp_client.hpp"
#include "common/util/loop_timer.hpp"

#include <doctest/doctest.h>
#include <uv.h>

#include <functional>
#include <string>
#include <utility>

namespace upesi::test {

using smtp_client::ClientOptions;
using smtp_client::Envelope;

// Answers one connection: 220, EHLO with PIPELINING and SIZE 1000, 250 to MAIL/RCPT/RSET,
// 354 to DATA, 250 after the dot, 221 to QUIT. Closes when the client does.
struct ScriptedServer {
  uv_loop_t* loop;
  uv_tcp_t listener{};
  uv_tcp_t* conn = nullptr;
  int port = 0;
  std::string received; // every byte the client sent
  std::string pending;
  bool in_data = false;
  bool saw_dot = false;
  int mails = 0;
  std::string extra_ehlo; // more keyword lines ("250-DSN\r\n") in the EHLO reply
  bool answers_quit = true;
  // The test's own reply to a command line ("RCPT TO:<b@example.net>"); "" keeps the script's.
  std::function<std::string(const std::string& line)> answer;
  // Closes the connection, unanswered, as soon as the message's first bytes come after 354.
  bool drop_in_data = false;
  // The reply to the first final dot waits for the next command line (a client that waits for
  // it before sending more waits until its timeout); then it goes, or with
  // drop_instead_of_dot_reply the connection closes unanswered.
  bool hold_first_dot_reply = false;
  bool drop_instead_of_dot_reply = false;
  std::string held_dot_reply;
  int dots = 0;

  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;
  ~ScriptedServer() {
    shutdown();
    uv_run(loop, UV_RUN_DEFAULT); // the handles live in this object: let their closing finish
  }

  explicit ScriptedServer(uv_loop_t* l) : loop(l) {
    uv_tcp_init(loop, &listener);
    listener.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    REQUIRE(uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&addr), 0) == 0);
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&bound), &len);
    port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 4, onConnection) == 0);
  }

  void say(const std::string& text) {
    auto* req = new uv_write_t{};
    auto* copy = new std::string(text);
    req->data = copy;
    uv_buf_t buf = uv_buf_init(copy->data(), static_cast<unsigned>(copy->size()));
    uv_write(req, reinterpret_cast<uv_stream_t*>(conn), &buf, 1, [](uv_write_t* r, int) {
      delete static_cast<std::string*>(r->data);
      delete r;
    });
  }

  void shutdown() {
    if (conn != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(conn),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
      conn = nullptr;
    }
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    }
  }

  static void onConnection(uv_stream_t* server, int status) {
    auto* self = static_cast<ScriptedServer*>(server->data);
    REQUIRE(status == 0);
    self->conn = new uv_tcp_t{};
    uv_tcp_init(self->loop, self->conn);
    self->conn->data = self;
    REQUIRE(uv_accept(server, reinterpret_cast<uv_stream_t*>(self->conn)) == 0);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(self->conn),
        [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
          static char buffer[65536];
          *buf = uv_buf_init(buffer, sizeof buffer);
        },
        [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
          auto* s = static_cast<ScriptedServer*>(stream->data);
          if (nread < 0) {
            s->shutdown();
            return;
          }
          s->received.append(buf->base, static_cast<std::size_t>(nread));
          s->pending.append(buf->base, static_cast<std::size_t>(nread));
          s->process();
        });
    self->say("220 scripted ESMTP\r\n");
  }

  void process() {
    for (;;) {
      if (in_data) {
        if (drop_in_data && pending.size() > 2) { // more than the line end put first
          shutdown();
          return;
        }
        auto end = pending.find("\r\n.\r\n");
        if (end == std::string::npos) {
          return;
        }
        pending.erase(0, end + 5);
        in_data = false;
        saw_dot = true;
        if (hold_first_dot_reply && ++dots == 1) {
          held_dot_reply = "250 2.0.0 queued\r\n";
        } else {
          say("250 2.0.0 queued\r\n");
        }
        continue;
      }
      auto lf = pending.find("\r\n");
      if (lf == std::string::npos) {
        return;
      }
      std::string line = pending.substr(0, lf);
      pending.erase(0, lf + 2);
      if (!held_dot_reply.empty()) {
        if (drop_instead_of_dot_reply) {
          shutdown();
          return;
        }
        say(std::exchange(held_dot_reply, std::string()));
      }
      std::string verb = line.substr(0, 4);
      if (std::string reply = answer ? answer(line) : ""; !reply.empty()) {
        say(reply);
      } else if (verb == "EHLO") {
        say("250-scripted\r\n250-PIPELINING\r\n250-AUTH PLAIN login\r\n" + extra_ehlo +
            "250 SIZE 1000\r\n");
      } else if (verb == "MAIL") {
        ++mails;
        say("250 2.1.0 ok\r\n");
      } else if (verb == "RCPT" || verb == "RSET") {
        say("250 2.1.5 ok\r\n");
      } else if (verb == "DATA") {
        in_data = true;
        pending.insert(0, "\r\n"); // the body's first line follows a line end too
        say("354 go\r\n");
      } else if (verb == "QUIT") {
        if (answers_quit) {
          say("221 bye\r\n");
        }
      } else {
        say("502 what\r\n");
      }
    }
  }
};

inline ClientOptions optionsFor(int port) {
  using namespace std::chrono_literals;
  ClientOptions o;
  o.ip = "127.0.0.1";
  o.port = static_cast<std::uint16_t>(port);
  o.helo = "client.test";
  o.timeouts = {2s, 2s, 2s, 2s, 2s, 2s};
  return o;
}

inline Envelope envelope(std::size_t recipients = 1) {
  Envelope e;
  e.sender = Address{.user = "from", .host = "example.test"};
  for (std::size_t i = 0; i < recipients; ++i) {
    e.recipients.push_back(Address{.user = "to" + std::to_string(i), .host = "example.test"});
  }
  return e;
}

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0); // every handle was closed and freed
  }

  /// Runs the loop until `done` or 10 s have passed; says whether `done` came.
  bool runUntil(const std::function<bool()>& done) {
    bool late = false;
    LoopTimer deadline(&loop);
    deadline.start(10000, [&late] { late = true; });
    while (!done() && !late) {
      uv_run(&loop, UV_RUN_ONCE);
    }
    return done();
  }
};

} // namespace upesi::test
