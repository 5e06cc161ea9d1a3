// The code examples of Haraka's own documentation, written against Upesi's C++ API, so that the
// documentation a Haraka user follows and our code cannot drift apart. Each hook says which
// example it is; the integration test (test_seed_examples.py) checks what the documentation
// says the example does.
//
// config/seed_examples.ini:
//   [main]
//   record=/path/file   one line per call: "<method> <detail>"
//   [get_mx]
//   <domain>=<answer>   get_mx's answer for mail to <domain>: a string, or a JSON array of
//                       strings and HarakaMx objects (one MX each)
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/outbound.hpp>
#include <upesi/plugin.hpp>

#include <chrono>
#include <fstream>
#include <regex>
#include <string>

namespace {

class SeedExamples final : public upesi::Plugin {
public:
  void registerHooks(upesi::Host& host, upesi::Registrar& registrar) override {
    host_ = &host;
    auto ini = host.config("seed_examples.ini", "ini");
    record_ = ini["main"].value("record", std::string());
    if (ini.contains("get_mx")) {
      routes_ = ini["get_mx"];
    }
    using namespace std::placeholders;

    // docs/Plugins.md, "Register a Hook Multiple Times":
    //   this.register_hook('queue', 'try_queue_my_way')
    //   this.register_hook('queue', 'try_queue_highway')
    registrar.registerHook(upesi::Hook::Queue, std::bind(&SeedExamples::tryQueueMyWay, this, _1), 0,
                           "try_queue_my_way");
    registrar.registerHook(upesi::Hook::Queue,
                           std::bind(&SeedExamples::tryQueueHighway, this, _1, _2), 0,
                           "try_queue_highway");

    // docs/Plugins.md, "Determine hook name":
    //   this.register_hook('rcpt', 'my_rcpt')
    //   this.register_hook('rcpt_ok', 'my_rcpt')
    auto my_rcpt = std::bind(&SeedExamples::myRcpt, this, _1, _2, _3);
    registrar.registerHook(upesi::Hook::Rcpt, my_rcpt, 0, "my_rcpt");
    registrar.registerHook(upesi::Hook::RcptOk, my_rcpt, 0, "my_rcpt");

    // docs/Tutorial.md, rcpt_to.disposable: exports.hook_rcpt
    registrar.registerHook(upesi::Hook::Rcpt,
                           std::bind(&SeedExamples::disposable, this, _1, _2, _3), 0, "hook_rcpt");

    // docs/Plugins.md, HOOK_NEXT: next(HOOK_NEXT, 'rcpt_ok'); and docs/Outbound.md,
    // "Generating Mail from a Plugin", run by a command of our own.
    registrar.registerHook(upesi::Hook::UnrecognizedCommand,
                           std::bind(&SeedExamples::command, this, _1, _2, _3), 0,
                           "hook_unrecognized_command");

    // docs/Outbound.md, get_mx: next(OK, mx) with a HarakaMx, an array of them, or any
    // HarakaMx-compatible input.
    registrar.registerHook(upesi::Hook::GetMx, std::bind(&SeedExamples::getMx, this, _1, _3), 0,
                           "hook_get_mx");
  }

private:
  void record(const std::string& line) {
    if (!record_.empty()) {
      std::ofstream(record_, std::ios::app) << line << '\n';
    }
  }

  // "When try_queue_my_way() calls next(), the next function registered on hook queue will be
  // called, in this case, try_queue_highway()."
  void tryQueueMyWay(const upesi::Next& next) {
    record("try_queue_my_way");
    next();
  }

  void tryQueueHighway(const upesi::Next& next, upesi::Connection& connection) {
    auto* txn = connection.transaction();
    std::string rcpts;
    for (const auto& rcpt : txn->rcptTo()) {
      rcpts += " " + rcpt.address();
    }
    record("try_queue_highway" + rcpts);
    next(upesi::Code::Ok);
  }

  // "const hook_name = connection.hook // rcpt or rcpt_ok"
  void myRcpt(const upesi::Next& next, upesi::Connection& connection,
              const upesi::HookParams& params) {
    record("my_rcpt " + std::string(upesi::toString(connection.hook())) + " " +
           params.address->address());
    next();
  }

  // The tutorial's last version: addresses tagged user-YYYYMMDD are refused once the date has
  // passed ("550 Expired email address") and rewritten to user@domain while it has not.
  void disposable(const upesi::Next& next, upesi::Connection& connection,
                  const upesi::HookParams& params) {
    const upesi::Address& rcpt = *params.address;
    host_->log(upesi::LogLevel::Info, "got recipient: " + rcpt.format(), &connection);
    static const std::regex tagged(R"(^(.*)-(\d{4})(\d{2})(\d{2})$)");
    std::smatch match;
    if (!std::regex_match(rcpt.user, match, tagged)) {
      next();
      return;
    }
    const int expiry =
        std::stoi(match[2]) * 10000 + std::stoi(match[3]) * 100 + std::stoi(match[4]);
    if (expiry < today()) {
      next(upesi::Code::Deny, "Expired email address");
      return;
    }
    // The recipient is on the transaction's list while rcpt runs, as in Haraka.
    upesi::Address& listed = connection.transaction()->rcptTo().back();
    listed.user = match[1];
    listed.original = listed.format();
    host_->log(upesi::LogLevel::Info, "rewrote recipient to: " + listed.format(), &connection);
    next();
  }

  static int today() {
    const auto now = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
    const std::chrono::year_month_day date(now);
    return static_cast<int>(date.year()) * 10000 + static_cast<int>(unsigned(date.month())) * 100 +
           static_cast<int>(unsigned(date.day()));
  }

  void command(const upesi::Next& next, upesi::Connection& connection,
               const upesi::HookParams& params) {
    if (params.verb == "XRCPTOK") {
      next(upesi::Code::HookNext, "rcpt_ok");
      return;
    }
    if (params.verb == "XSEND") {
      sendExamples(next, connection);
      return;
    }
    next();
  }

  // docs/Outbound.md: the message joined with '\n', queued with a callback; then the same with
  // the options dot_stuffed and notes.
  void sendExamples(const upesi::Next& next, upesi::Connection&) {
    upesi::Address from{"<sender@example.com>", "sender", "example.com",
                        "example.com",          false,    false};
    upesi::Address to{"<user@example.com>", "user", "example.com", "example.com", false, false};
    const std::string contents = "From: sender@example.com\n"
                                 "To: user@example.com\n"
                                 "MIME-Version: 1.0\n"
                                 "Content-Type: text/plain; charset=us-ascii\n"
                                 "Subject: Hello\n"
                                 "\n"
                                 "Body here.\n";
    upesi::Address stuffed_to{"<stuffed@example.com>", "stuffed", "example.com",
                              "example.com",           false,     false};
    const std::string stuffed = "Subject: dot-stuffed\n\n..a line that starts with a dot\n";
    host_->sendEmail(
        from, {to}, contents,
        [this, next, from, stuffed_to, stuffed](upesi::Code code, const std::string& msg) {
          record("send_email " + std::string(upesi::toString(code)) + " " + msg);
          upesi::SendEmailOptions options;
          options.dot_stuffed = true;
          options.notes = {{"sent_by", "seed_examples"}};
          host_->sendEmail(
              from, {stuffed_to}, stuffed,
              [this, next](upesi::Code stuffed_code, const std::string& text) {
                record("send_email " + std::string(upesi::toString(stuffed_code)) + " " + text);
                next(upesi::Code::Ok, "both queued");
              },
              options);
        });
  }

  void getMx(const upesi::Next& next, const upesi::HookParams& params) {
    record("get_mx " + std::string(params.domain) + " " + params.hmail->notes().dump());
    const std::string domain(params.domain);
    if (!routes_.contains(domain)) {
      next();
      return;
    }
    const std::string answer = routes_[domain].get<std::string>();
    auto json = nlohmann::json::parse(answer, nullptr, false);
    if (!json.is_array()) {
      next(upesi::Code::Ok, answer);
      return;
    }
    std::vector<std::string> mxs;
    for (const auto& mx : json) {
      mxs.push_back(mx.is_string() ? mx.get<std::string>() : mx.dump());
    }
    next(upesi::Code::Ok, mxs);
  }

  upesi::Host* host_ = nullptr;
  std::string record_;
  nlohmann::json routes_ = nlohmann::json::object();
};

} // namespace

UPESI_PLUGIN(SeedExamples, "seed_examples", "Haraka's documentation examples in C++ (for tests).")
