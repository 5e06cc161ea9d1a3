// smtp_send: drives the outbound SMTP/LMTP client once, for the integration tests.
//
//   smtp_send --host 127.0.0.1 --port N [--lmtp] [--helo NAME] [--bind IP] --from A
//             --to X [--to Y ...] --message FILE [--stuffed] [--pipelining-off]
//             [--timeout SECONDS] [--repeat N] [--verbose]
//             [--tls off|opportunistic|required|implicit] [--ca FILE] [--tls-name NAME]
//             [--verify] [--auth-user USER --auth-pass PASS [--auth-type TYPE] [--auth-required]]
//
// The message file is a plain message (LF or CRLF line ends); it is converted to CRLF and
// dot-stuffed the way the queue stores messages, then sent from memory. With --stuffed the
// file is already in that form and is streamed from disk as it is (uv_fs_read).
// --repeat sends the message N times over one connection (RSET between sends).
// --tls builds the client context as tls.ini's [outbound] would, trusting --ca (else the
// system's CAs).
//
// Prints one line per recipient and send: "rcpt <address> <ok|temporary|permanent> <code>
// <enhanced|-> <reason>", and on stderr the message outcome. Exit status: 0 all accepted,
// 2 some recipient failed permanently, else 1 some failed temporarily; 64 usage. After the
// connect, and with each message outcome, stderr shows what protected the session:
// "security tls=<version|none> cipher=<name|-> verified=<bool> tls_failed=<bool> auth=<mech|none>".
#include "common/log/logger.hpp"
#include "common/smtp/address_parser.hpp"
#include "common/smtp_client/smtp_client.hpp"
#include "common/tls/tls_context.hpp"

#include <fmt/format.h>
#include <uv.h>

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

using namespace upesi;
using namespace upesi::smtp_client;

namespace {

[[noreturn]] void usage(const std::string& why) {
  fmt::print(
      stderr,
      "smtp_send: {}\nusage: smtp_send --host IP --port N [--lmtp] [--helo NAME] "
      "[--bind IP] --from ADDR --to ADDR [--to ...] --message FILE [--stuffed] "
      "[--pipelining-off] [--timeout SECONDS] [--repeat N] [--verbose] "
      "[--tls off|opportunistic|required|implicit] [--ca FILE] [--tls-name NAME] "
      "[--verify] [--auth-user USER --auth-pass PASS [--auth-type TYPE] [--auth-required]]\n",
      why);
  std::exit(64);
}

// CRLF line ends and dot-stuffing, as the queue stores a message.
std::string toWireForm(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  bool line_start = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (line_start && c == '.') {
      out += '.';
    }
    if (c == '\n' && (i == 0 || text[i - 1] != '\r')) {
      out += '\r';
    }
    out += c;
    line_start = c == '\n';
  }
  return out;
}

TlsMode parseTlsMode(const std::string& text) {
  for (auto mode : {TlsMode::Off, TlsMode::Opportunistic, TlsMode::Required, TlsMode::Implicit}) {
    if (text == toString(mode)) {
      return mode;
    }
  }
  usage("unknown TLS mode " + text);
}

std::string describe(const Security& s) {
  return fmt::format("security tls={} cipher={} verified={} tls_failed={} auth={}",
                     s.tls ? s.tls->version : "none", s.tls ? s.tls->cipher : "-",
                     s.tls && s.tls->verified, s.tls_failed, s.auth ? toString(*s.auth) : "none");
}

Address parseAddress(const std::string& text, smtp::PathKind kind) {
  std::string path = text.empty() || text.front() != '<' ? "<" + text + ">" : text;
  auto parsed = smtp::parsePath(path, kind);
  if (!parsed) {
    usage(fmt::format("bad address {}: {}", text, parsed.error()));
  }
  return *parsed;
}

struct Run {
  uv_loop_t* loop = nullptr;
  std::unique_ptr<SmtpClient> client;
  Envelope envelope;
  std::string message;
  bool stuffed = false;
  std::string message_path;
  int repeat = 1;
  int sent = 0;
  bool any_temp = false;
  bool any_perm = false;
  std::vector<uv_file> files;

  std::shared_ptr<MessageSource> source() {
    if (!stuffed) {
      return memorySource(message);
    }
    int fd = ::open(message_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      usage("cannot open " + message_path);
    }
    files.push_back(fd);
    return fileSource(loop, fd, 0);
  }

  void record(const std::string& who, const Status& s) {
    fmt::print("rcpt {} {} {} {} {}\n", who, toString(s.outcome), s.code,
               s.enhanced.empty() ? "-" : s.enhanced, s.reason);
    any_temp = any_temp || s.outcome == Outcome::Temporary;
    any_perm = any_perm || s.outcome == Outcome::Permanent;
  }

  void connectFailed(const Status& s) {
    fmt::print(stderr, "message {} {} {}\n", toString(s.outcome), s.code, s.reason);
    fmt::print(stderr, "{}\n", describe(client->security()));
    for (const auto& r : envelope.recipients) {
      record(r.address(), s);
    }
  }

  void start() {
    client->connect([this](const Status& s) {
      if (!s.ok()) {
        connectFailed(s);
        client.reset(); // destroyed inside its own callback, on purpose
        return;
      }
      const auto& caps = client->capabilities();
      fmt::print(stderr, "connected: {} pipelining={} size={} 8bitmime={} smtputf8={}\n", s.reason,
                 caps.pipelining, caps.size_limit, caps.eight_bit_mime, caps.smtputf8);
      fmt::print(stderr, "{}\n", describe(client->security()));
      sendOne();
    });
  }

  void sendOne() {
    client->send(envelope, source(), [this](const DeliveryResult& result) {
      ++sent;
      fmt::print(stderr, "message {} {} {} reusable={} remote={}:{} secured={} authenticated={}\n",
                 toString(result.message.outcome), result.message.code, result.message.reason,
                 result.reusable, result.remote.ip, result.remote.port, result.security.secured(),
                 result.security.authenticated());
      for (const auto& r : result.recipients) {
        record(r.address, r.status);
      }
      std::fflush(stdout);
      if (sent < repeat && result.reusable) {
        client->reset([this](const Status& s) {
          if (!s.ok()) {
            fmt::print(stderr, "RSET failed: {}\n", s.reason);
            any_temp = true;
            client.reset();
            return;
          }
          sendOne();
        });
        return;
      }
      if (sent < repeat) {
        fmt::print(stderr, "connection not reusable after send {}\n", sent);
        any_temp = true;
      }
      client->quit([this] { client.reset(); });
    });
  }
};

} // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  ClientOptions options;
  options.helo = "smtp-send.test";
  std::string from;
  bool have_from = false;
  std::vector<std::string> to;
  std::string message_path;
  bool stuffed = false;
  int repeat = 1;
  bool verbose = false;
  std::string ca;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage(arg + " needs a value");
      }
      return argv[++i];
    };
    if (arg == "--host") {
      options.ip = value();
    } else if (arg == "--port") {
      options.port = static_cast<std::uint16_t>(std::stoi(value()));
    } else if (arg == "--lmtp") {
      options.lmtp = true;
    } else if (arg == "--helo") {
      options.helo = value();
    } else if (arg == "--bind") {
      options.local_ip = value();
    } else if (arg == "--from") {
      from = value();
      have_from = true;
    } else if (arg == "--to") {
      to.push_back(value());
    } else if (arg == "--message") {
      message_path = value();
    } else if (arg == "--stuffed") {
      stuffed = true;
    } else if (arg == "--pipelining-off") {
      options.use_pipelining = false;
    } else if (arg == "--timeout") {
      std::chrono::milliseconds ms(static_cast<long>(std::stod(value()) * 1000));
      options.timeouts = {ms, ms, ms, ms, ms, ms};
    } else if (arg == "--repeat") {
      repeat = std::stoi(value());
    } else if (arg == "--verbose") {
      verbose = true;
    } else if (arg == "--tls") {
      options.tls.mode = parseTlsMode(value());
    } else if (arg == "--ca") {
      ca = value();
    } else if (arg == "--tls-name") {
      options.tls.name = value();
    } else if (arg == "--verify") {
      options.tls.verify = true;
    } else if (arg == "--auth-user") {
      options.auth.user = value();
    } else if (arg == "--auth-pass") {
      options.auth.password = value();
    } else if (arg == "--auth-type") {
      options.auth.type = value();
    } else if (arg == "--auth-required") {
      options.auth.required = true;
    } else {
      usage("unknown argument " + arg);
    }
  }
  if (options.ip.empty() || !have_from || to.empty() || message_path.empty() || repeat < 1) {
    usage("--host, --from, --to and --message are required");
  }
  if (verbose) {
    log::Logger::instance().configure({.level = log::Level::Protocol});
  }
  tls::ContextPtr tls_context;
  if (options.tls.mode != TlsMode::Off) {
    config::Config config(".", "");
    tls::TlsSideConfig side;
    side.ca = ca;
    side.key.clear(); // no client certificate
    side.cert.clear();
    auto context = tls::makeClientContext(config, side);
    if (!context) {
      usage(context.error());
    }
    tls_context = std::move(*context);
    options.tls.context = tls_context.get();
  }

  Run run;
  run.loop = uv_default_loop();
  run.repeat = repeat;
  run.stuffed = stuffed;
  run.message_path = message_path;
  run.envelope.sender = from.empty() || from == "<>" ? Address{.is_null = true}
                                                     : parseAddress(from, smtp::PathKind::Reverse);
  for (const auto& t : to) {
    run.envelope.recipients.push_back(parseAddress(t, smtp::PathKind::Forward));
  }
  std::ifstream in(message_path, std::ios::binary);
  if (!in) {
    usage("cannot read " + message_path);
  }
  std::stringstream text;
  text << in.rdbuf();
  run.message = stuffed ? text.str() : toWireForm(text.str());
  run.envelope.size = run.message.size();
  options.host = "peer.test";

  run.client = std::make_unique<SmtpClient>(run.loop, options);
  run.start();
  uv_run(run.loop, UV_RUN_DEFAULT);
  for (uv_file fd : run.files) {
    ::close(fd);
  }
  if (uv_loop_close(run.loop) != 0) {
    fmt::print(stderr, "smtp_send: handles left open on the loop\n");
    return 70;
  }
  return run.any_perm ? 2 : run.any_temp ? 1 : 0;
}
