#include "common/plugin/hook_runner.hpp"
#include "test/support/installed_metrics.hpp"

#include <doctest/doctest.h>

#include <optional>

using namespace upesi;
using upesi::plugin::HookResult;
using upesi::plugin::HookRunner;
using upesi::plugin::HookTable;

namespace {

class TestConnection final : public Connection {
public:
  const std::string& uuid() const override { return uuid_; }
  const Endpoint& remote() const override { return endpoint_; }
  const Endpoint& local() const override { return endpoint_; }
  const std::string& helloVerb() const override { return uuid_; }
  const std::string& helloHost() const override { return uuid_; }
  bool tls() const override { return false; }
  bool relaying() const override { return false; }
  void setRelaying(bool) override {}
  nlohmann::json& notes() override { return notes_; }
  Results& results() override { return results_; }
  Transaction* transaction() override { return txn_; }
  std::shared_ptr<Transaction> sharedTransaction() override { return nullptr; }
  std::vector<std::string>& capabilities() override { return caps_; }
  unsigned transactionCount() const override { return 0; }
  bool earlyTalker() const override { return false; }
  void disconnect() override {}

  Transaction* txn_ = nullptr;

private:
  std::string uuid_ = "TEST";
  Endpoint endpoint_;
  nlohmann::json notes_ = nlohmann::json::object();
  Results results_;
  std::vector<std::string> caps_;
};

// A loop for one test: runs until the runner answers or 5 s pass.
struct HookRunnerLoop {
  uv_loop_t loop{};
  HookRunnerLoop() { uv_loop_init(&loop); }
  ~HookRunnerLoop() {
    uv_walk(
        &loop,
        [](uv_handle_t* h, void*) {
          if (uv_is_closing(h) == 0) {
            uv_close(h, nullptr);
          }
        },
        nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  void runUntil(const std::optional<HookResult>& outcome) {
    auto deadline = uv_now(&loop) + 5000;
    while (!outcome && uv_now(&loop) < deadline) {
      uv_run(&loop, UV_RUN_ONCE);
    }
  }
};

// Answers later, from a timer on the loop.
void later(uv_loop_t* loop, std::uint64_t ms, std::function<void()> fn) {
  auto* timer = new uv_timer_t{};
  uv_timer_init(loop, timer);
  timer->data = new std::function<void()>(std::move(fn));
  uv_timer_start(
      timer,
      [](uv_timer_t* t) {
        auto* f = static_cast<std::function<void()>*>(t->data);
        (*f)();
        delete f;
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      },
      ms, 0);
}

HookFunction answer(std::vector<std::string>& calls, std::string name, Code code) {
  return [&calls, name, code](Next next, Connection&, const HookParams&) {
    calls.push_back(name);
    next(code, name + " says");
  };
}

} // namespace

TEST_CASE("hook runner: CONT goes on, the first other answer ends the chain") {
  HookRunnerLoop l;
  HookTable table;
  std::vector<std::string> calls;
  HookTable::PluginRegistrar a(table, "a", 0, std::chrono::seconds(30));
  HookTable::PluginRegistrar b(table, "b", 1, std::chrono::seconds(30));
  HookTable::PluginRegistrar c(table, "c", 2, std::chrono::seconds(30));
  a.registerHook(Hook::Rcpt, answer(calls, "a", Code::Cont), 0, "");
  b.registerHook(Hook::Rcpt, answer(calls, "b", Code::Deny), 0, "");
  c.registerHook(Hook::Rcpt, answer(calls, "c", Code::Ok), 0, "");
  TestConnection conn;
  std::optional<HookResult> outcome;
  auto runner = HookRunner::run(&l.loop, table, Hook::Rcpt, conn, {}, "T",
                                [&](HookResult r) { outcome = r; });
  REQUIRE(outcome); // everything answered inline
  CHECK((outcome->code == Code::Deny));
  CHECK(outcome->plugin == "b");
  CHECK(outcome->message == std::vector<std::string>{"b says"});
  CHECK(calls == std::vector<std::string>{"a", "b"});
}

TEST_CASE("hook runner: no plugin, or all CONT, ends with CONT and no plugin") {
  HookRunnerLoop l;
  HookTable table;
  TestConnection conn;
  std::optional<HookResult> outcome;
  auto runner = HookRunner::run(&l.loop, table, Hook::Helo, conn, {}, "T",
                                [&](HookResult r) { outcome = r; });
  REQUIRE(outcome);
  CHECK((outcome->code == Code::Cont));
  CHECK(outcome->plugin.empty());
}

TEST_CASE("hook runner: connect_init and disconnect run every plugin whatever they say") {
  HookRunnerLoop l;
  HookTable table;
  std::vector<std::string> calls;
  HookTable::PluginRegistrar a(table, "a", 0, std::chrono::seconds(30));
  HookTable::PluginRegistrar b(table, "b", 1, std::chrono::seconds(30));
  a.registerHook(Hook::Disconnect, answer(calls, "a", Code::Deny), 0, "");
  b.registerHook(Hook::Disconnect, answer(calls, "b", Code::Ok), 0, "");
  TestConnection conn;
  std::optional<HookResult> outcome;
  auto runner = HookRunner::run(&l.loop, table, Hook::Disconnect, conn, {}, "T",
                                [&](HookResult r) { outcome = r; });
  REQUIRE(outcome);
  CHECK((outcome->code == Code::Cont));
  CHECK(calls == std::vector<std::string>{"a", "b"});
}

TEST_CASE("hook runner: an answer later through the loop, and a thousand inline answers") {
  HookRunnerLoop l;
  HookTable table;
  HookTable::PluginRegistrar a(table, "a", 0, std::chrono::seconds(30));
  for (int i = 0; i < 1000; ++i) {
    a.registerHook(
        Hook::Mail, [](Next next, Connection&, const HookParams&) { next(); }, 0, "");
  }
  uv_loop_t* loop = &l.loop;
  a.registerHook(
      Hook::Mail,
      [loop](Next next, Connection&, const HookParams&) {
        later(loop, 20, [next] { next(Code::Ok, "later"); });
      },
      0, "");
  TestConnection conn;
  std::optional<HookResult> outcome;
  auto runner = HookRunner::run(&l.loop, table, Hook::Mail, conn, {}, "T",
                                [&](HookResult r) { outcome = r; });
  CHECK_FALSE(outcome);
  l.runUntil(outcome);
  REQUIRE(outcome);
  CHECK((outcome->code == Code::Ok));
  CHECK(outcome->message.front() == "later");
}

TEST_CASE("hook runner: a second next is ignored") {
  HookRunnerLoop l;
  HookTable table;
  HookTable::PluginRegistrar a(table, "a", 0, std::chrono::seconds(30));
  HookTable::PluginRegistrar b(table, "b", 1, std::chrono::seconds(30));
  int b_calls = 0;
  a.registerHook(
      Hook::Rcpt,
      [](Next next, Connection&, const HookParams&) {
        next(Code::Cont);
        next(Code::Deny, "ignored");
      },
      0, "");
  b.registerHook(
      Hook::Rcpt,
      [&](Next next, Connection&, const HookParams&) {
        ++b_calls;
        next(Code::Ok);
      },
      0, "");
  TestConnection conn;
  std::optional<HookResult> outcome;
  int done_calls = 0;
  auto runner = HookRunner::run(&l.loop, table, Hook::Rcpt, conn, {}, "T", [&](HookResult r) {
    outcome = r;
    ++done_calls;
  });
  REQUIRE(outcome);
  CHECK((outcome->code == Code::Ok));
  CHECK(b_calls == 1);
  CHECK(done_calls == 1);
}

TEST_CASE("hook runner: a plugin that never answers times out as DENYSOFT; late next ignored") {
  HookRunnerLoop l;
  HookTable table;
  HookTable::PluginRegistrar a(table, "slow", 0, std::chrono::milliseconds(50));
  std::optional<Next> kept;
  a.registerHook(
      Hook::Data, [&](Next next, Connection&, const HookParams&) { kept = next; }, 0, "");
  TestConnection conn;
  std::optional<HookResult> outcome;
  int done_calls = 0;
  auto runner = HookRunner::run(&l.loop, table, Hook::Data, conn, {}, "T", [&](HookResult r) {
    outcome = r;
    ++done_calls;
  });
  l.runUntil(outcome);
  REQUIRE(outcome);
  CHECK((outcome->code == Code::DenySoft));
  CHECK(outcome->message == std::vector<std::string>{"plugin timeout"});
  REQUIRE(kept);
  CHECK_FALSE(kept->pending());
  (*kept)(Code::Ok); // too late: harmless
  CHECK(done_calls == 1);
}

TEST_CASE("hook runner: an exception counts as CONT") {
  HookRunnerLoop l;
  HookTable table;
  HookTable::PluginRegistrar a(table, "thrower", 0, std::chrono::seconds(30));
  HookTable::PluginRegistrar b(table, "b", 1, std::chrono::seconds(30));
  a.registerHook(
      Hook::Rcpt, [](Next, Connection&, const HookParams&) { throw std::runtime_error("boom"); }, 0,
      "");
  std::vector<std::string> calls;
  b.registerHook(Hook::Rcpt, answer(calls, "b", Code::Ok), 0, "");
  TestConnection conn;
  std::optional<HookResult> outcome;
  auto runner = HookRunner::run(&l.loop, table, Hook::Rcpt, conn, {}, "T",
                                [&](HookResult r) { outcome = r; });
  REQUIRE(outcome);
  CHECK((outcome->code == Code::Ok));
  CHECK(outcome->plugin == "b");
}

TEST_CASE("hook runner: the deny hook may override a rejection, and sees what was denied") {
  HookRunnerLoop l;
  HookTable table;
  HookTable::PluginRegistrar a(table, "strict", 0, std::chrono::seconds(30));
  HookTable::PluginRegistrar b(table, "lenient", 1, std::chrono::seconds(30));
  std::vector<std::string> calls;
  a.registerHook(Hook::Rcpt, answer(calls, "strict", Code::Deny), 0, "");
  b.registerHook(Hook::Rcpt, answer(calls, "lenient", Code::Ok), 10, "");
  DenyInfo seen;
  bool override_it = true;
  b.registerHook(
      Hook::Deny,
      [&](Next next, Connection&, const HookParams& params) {
        REQUIRE(params.deny != nullptr);
        seen = *params.deny;
        next(override_it ? Code::Ok : Code::Cont);
      },
      0, "");
  std::string denied_address;
  b.registerHook(
      Hook::Deny,
      [&](Next next, Connection&, const HookParams& params) {
        REQUIRE(params.deny->params != nullptr);
        REQUIRE(params.deny->params->address != nullptr);
        denied_address = params.deny->params->address->address();
        next(Code::Cont);
      },
      -10, "");
  TestConnection conn;
  Address rcpt;
  rcpt.user = "r";
  rcpt.host = "example.com";
  HookParams rcpt_params;
  rcpt_params.address = &rcpt;
  std::optional<HookResult> outcome;
  auto runner = HookRunner::run(&l.loop, table, Hook::Rcpt, conn, rcpt_params, "T",
                                [&](HookResult r) { outcome = r; });
  REQUIRE(outcome);
  CHECK((outcome->code == Code::Ok));
  CHECK(outcome->plugin == "lenient");
  CHECK(seen.plugin == "strict");
  CHECK((seen.code == Code::Deny));
  CHECK((seen.hook == Hook::Rcpt));
  // Haraka passes the denied hook's params too: [code, msg, plugin, function, params, hook].
  CHECK(denied_address == "r@example.com");

  override_it = false;
  outcome.reset();
  calls.clear();
  runner = HookRunner::run(&l.loop, table, Hook::Rcpt, conn, rcpt_params, "T",
                           [&](HookResult r) { outcome = r; });
  REQUIRE(outcome);
  CHECK((outcome->code == Code::Deny));
  CHECK(calls == std::vector<std::string>{"strict"});
}

TEST_CASE("hook runner: the connection knows which hook runs (Haraka's connection.hook)") {
  // Haraka's docs: one my_rcpt registered on rcpt and rcpt_ok reads connection.hook.
  HookRunnerLoop l;
  HookTable table;
  HookTable::PluginRegistrar a(table, "a", 0, std::chrono::seconds(30));
  HookTable::PluginRegistrar b(table, "b", 1, std::chrono::seconds(30));
  std::vector<std::string> seen;
  HookFunction my_rcpt = [&seen](Next next, Connection& connection, const HookParams&) {
    seen.emplace_back(toString(connection.hook()));
    next(connection.hook() == Hook::Rcpt ? Code::Deny : Code::Cont);
  };
  a.registerHook(Hook::Rcpt, my_rcpt, 0, "my_rcpt");
  a.registerHook(Hook::RcptOk, my_rcpt, 0, "my_rcpt");
  // A deny hook runs in between; the rest of rcpt sees rcpt again.
  b.registerHook(
      Hook::Deny,
      [&seen](Next next, Connection& connection, const HookParams&) {
        seen.emplace_back(toString(connection.hook()));
        next(Code::Ok);
      },
      0, "");
  b.registerHook(Hook::Rcpt, my_rcpt, 10, "late_rcpt");
  TestConnection conn;
  std::optional<HookResult> outcome;
  auto runner = HookRunner::run(&l.loop, table, Hook::Rcpt, conn, {}, "T",
                                [&](HookResult r) { outcome = r; });
  REQUIRE(outcome);
  outcome.reset();
  runner = HookRunner::run(&l.loop, table, Hook::RcptOk, conn, {}, "T",
                           [&](HookResult r) { outcome = r; });
  REQUIRE(outcome);
  CHECK(seen == std::vector<std::string>{"rcpt", "deny", "rcpt", "deny", "rcpt_ok"});
}

TEST_CASE("hook runner: cancel drops a pending plugin and never calls done") {
  HookRunnerLoop l;
  HookTable table;
  HookTable::PluginRegistrar a(table, "a", 0, std::chrono::seconds(30));
  std::optional<Next> kept;
  a.registerHook(
      Hook::Mail, [&](Next next, Connection&, const HookParams&) { kept = next; }, 0, "");
  TestConnection conn;
  bool done = false;
  auto runner =
      HookRunner::run(&l.loop, table, Hook::Mail, conn, {}, "T", [&](HookResult) { done = true; });
  REQUIRE(kept);
  CHECK(kept->pending());
  runner->cancel();
  CHECK_FALSE(kept->pending());
  (*kept)(Code::Ok);
  runner.reset();
  (*kept)(Code::Ok); // the runner is gone: still harmless
  CHECK_FALSE(done);
}

TEST_CASE("hook runner: each plugin's time to answer goes to hook_duration_seconds{hook,plugin}") {
  test::InstalledMetrics metrics; // before the table: its entries keep handles into the region
  HookRunnerLoop l;
  HookTable table;
  std::vector<std::string> calls;
  HookTable::PluginRegistrar fast(table, "fast", 0, std::chrono::seconds(30));
  HookTable::PluginRegistrar slow(table, "slow", 1, std::chrono::seconds(30));
  fast.registerHook(Hook::Rcpt, answer(calls, "fast", Code::Cont), 0, "");
  slow.registerHook(
      Hook::Rcpt,
      [&l](Next next, Connection&, const HookParams&) {
        uv_update_time(&l.loop); // the timer counts from now, not from the loop's last turn
        later(&l.loop, 30, [next]() mutable { next(Code::Ok); });
      },
      0, "");
  TestConnection conn;
  for (int run = 0; run < 2; ++run) {
    std::optional<HookResult> outcome;
    auto runner = HookRunner::run(&l.loop, table, Hook::Rcpt, conn, {}, "T",
                                  [&](HookResult r) { outcome = r; });
    l.runUntil(outcome);
    REQUIRE(outcome);
    CHECK(outcome->plugin == "slow");
  }
  CHECK(metrics.value("upesi_hook_duration_seconds_count{hook=\"rcpt\",plugin=\"fast\"}") == "2");
  CHECK(metrics.value("upesi_hook_duration_seconds_count{hook=\"rcpt\",plugin=\"slow\"}") == "2");
  // 30 ms at least: nothing in the buckets up to 25 ms.
  CHECK(metrics.value(
            "upesi_hook_duration_seconds_bucket{hook=\"rcpt\",plugin=\"slow\",le=\"0.025\"}") ==
        "0");
  CHECK(std::stod(metrics.value(
            "upesi_hook_duration_seconds_sum{hook=\"rcpt\",plugin=\"slow\"}")) >= 0.058);
  CHECK(metrics.value("upesi_hook_duration_seconds_count{hook=\"mail\",plugin=\"fast\"}") == "");
}

TEST_CASE("hook runner: handles kept in a table follow a newly installed region") {
  HookTable table;
  HookTable::PluginRegistrar plugin(table, "p", 0, std::chrono::seconds(30));
  plugin.registerHook(
      Hook::Helo, [](Next next, Connection&, const HookParams&) { next(); }, 0, "");
  TestConnection conn;
  HookRunnerLoop l;
  auto run = [&] {
    std::optional<HookResult> outcome;
    auto runner = HookRunner::run(&l.loop, table, Hook::Helo, conn, {}, "T",
                                  [&](HookResult r) { outcome = r; });
    REQUIRE(outcome);
  };
  run(); // before any region: nothing to count in
  for (int region = 0; region < 2; ++region) {
    test::InstalledMetrics metrics;
    run();
    CHECK(metrics.value("upesi_hook_duration_seconds_count{hook=\"helo\",plugin=\"p\"}") == "1");
  }
}
