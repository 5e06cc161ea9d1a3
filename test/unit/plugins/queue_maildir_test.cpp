#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>
#include <uv.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

using namespace upesi;
using namespace upesi::test;
namespace fs = std::filesystem;

namespace upesi::plugins::queue_maildir {
std::string safeComponent(std::string_view text);
}

namespace {

std::vector<fs::path> filesIn(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    out.push_back(entry.path());
  }
  return out;
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A real loop so the delivery goes through the thread pool and back.
struct Loop {
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  uv_loop_t loop{};
};

FakeTransaction& message(FakeConnection& c, std::vector<Address> rcpts) {
  auto& txn = c.begin(makeAddress("sender", "client.example"));
  txn.rcpt_to = std::move(rcpts);
  txn.header_lines = {{"Subject", "hello"}, {"From", "sender@client.example"}};
  txn.body = "first line\r\n.leading dot\r\nlast line\r\n";
  return txn;
}

} // namespace

TEST_CASE("plugins/queue/maildir: one durable copy per recipient, LF line ends, 250 after") {
  Loop loop;
  PluginHarness h("queue/maildir");
  h.host.attachLoop(&loop.loop);
  h.load();
  REQUIRE(h.count(Hook::Queue) == 1);
  CHECK(h.count(Hook::QueueOutbound) == 0);

  FakeConnection c;
  auto& txn = message(c, {makeAddress("John.Doe", "Example.COM"), makeAddress("b", "localhost"),
                          makeAddress("john.doe", "example.com")}); // same mailbox twice
  auto a = h.call(Hook::Queue, c);
  // The answer comes from the loop, after the thread pool did the work.
  CHECK(a->calls == 0);
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  REQUIRE(a->calls == 1);
  CHECK(a->name() == "OK");
  CHECK(a->text() == "Message Queued (" + txn.uuid() + ")");
  CHECK(h.host.pool_jobs == 1);

  const auto base = h.host.installDir() / "maildir";
  auto john = filesIn(base / "example.com" / "john.doe" / "new");
  auto b = filesIn(base / "localhost" / "b" / "new");
  REQUIRE(john.size() == 1);
  REQUIRE(b.size() == 1);
  CHECK(filesIn(base / "example.com" / "john.doe" / "tmp").empty());
  CHECK(fs::is_directory(base / "example.com" / "john.doe" / "cur"));
  CHECK(slurp(john[0]) == "Return-Path: <sender@client.example>\n"
                          "Delivered-To: John.Doe@example.com\n"
                          "Subject: hello\n"
                          "From: sender@client.example\n"
                          "\n"
                          "first line\n"
                          ".leading dot\n"
                          "last line\n");
  CHECK(slurp(b[0]).find("Delivered-To: b@localhost\n") != std::string::npos);
  // The maildir name: time.unique.host, the transaction in the unique part.
  auto name = john[0].filename().string();
  CHECK(name.find('/') == std::string::npos);
  CHECK(name.find(txn.uuid().substr(0, 8)) != std::string::npos);
  CHECK((fs::status(john[0]).permissions() & fs::perms::others_read) == fs::perms::none);
}

TEST_CASE("plugins/queue/maildir: recipient names cannot leave the base directory") {
  using upesi::plugins::queue_maildir::safeComponent;
  CHECK(safeComponent("../../etc") == "%2E.%2F..%2Fetc");
  CHECK(safeComponent("..") == "%2E.");
  CHECK(safeComponent(".") == "%2E");
  CHECK(safeComponent(".hidden") == "%2Ehidden");
  CHECK(safeComponent("") == "%");
  CHECK(safeComponent("a/b") == "a%2Fb");
  CHECK(safeComponent(std::string("nul\0byte", 8)) == "nul%00byte");
  CHECK(safeComponent("tab\there\r\n") == "tab%09here%0D%0A");
  CHECK(safeComponent("ok.name+tag_x") == "ok.name+tag_x");
  CHECK(safeComponent("del\x7f") == "del%7F");

  // Injective: names that used to share a maildir no longer do.
  const std::vector<std::string> distinct = {"a/b",  "a_b", "a%2Fb", "a%2fb", ".x",  "_.x",
                                             "%2Ex", "",    "%",     "_",     "a\nb"};
  std::set<std::string> names;
  for (const auto& text : distinct) {
    names.insert(safeComponent(text));
  }
  CHECK(names.size() == distinct.size());

  Loop loop;
  PluginHarness h("queue/maildir");
  h.host.attachLoop(&loop.loop);
  h.load();
  FakeConnection c;
  message(c, {makeAddress("../../etc", "example.com"), makeAddress(".hidden", "example.com"),
              makeAddress("x", "../../outside")});
  auto a = h.call(Hook::Queue, c);
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  REQUIRE(a->calls == 1);
  CHECK(a->name() == "OK");
  const auto base = h.host.installDir() / "maildir";
  std::vector<std::string> domains;
  for (const auto& p : filesIn(base)) {
    domains.push_back(p.filename().string());
  }
  std::sort(domains.begin(), domains.end());
  CHECK(domains == std::vector<std::string>{"%2E.%2F..%2Foutside", "example.com"});
  std::vector<std::string> users;
  for (const auto& p : filesIn(base / "example.com")) {
    users.push_back(p.filename().string());
  }
  std::sort(users.begin(), users.end());
  CHECK(users == std::vector<std::string>{"%2E.%2F..%2Fetc", "%2Ehidden"});
  // Nothing was created beside the base directory.
  std::vector<std::string> top;
  for (const auto& p : filesIn(h.host.installDir())) {
    top.push_back(p.filename().string());
  }
  std::sort(top.begin(), top.end());
  CHECK(top == std::vector<std::string>{"config", "maildir"});
}

TEST_CASE("plugins/queue/maildir: a failure is a DENYSOFT and leaves no copy anywhere") {
  Loop loop;
  PluginHarness h("queue/maildir");
  h.host.attachLoop(&loop.loop);
  h.load();
  const auto base = h.host.installDir() / "maildir";
  fs::create_directories(base);
  { std::ofstream(base / "example.com") << "a file where a directory must go\n"; }

  FakeConnection c;
  message(c, {makeAddress("a", "localhost"), makeAddress("b", "example.com")});
  auto a = h.call(Hook::Queue, c);
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  REQUIRE(a->calls == 1);
  CHECK(a->name() == "DENYSOFT");
  CHECK(a->text().find("try again later") != std::string::npos);
  CHECK(h.host.logged("example.com exists and is not a directory"));
  // The first recipient's copy was delivered, then taken back.
  CHECK(filesIn(base / "localhost" / "a" / "new").empty());
  CHECK(filesIn(base / "localhost" / "a" / "tmp").empty());

  // A message that cannot be read: the partial file goes too.
  FakeConnection c2;
  auto& txn = message(c2, {makeAddress("a", "localhost")});
  txn.fail_write = true;
  auto failed = h.call(Hook::Queue, c2);
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  REQUIRE(failed->calls == 1);
  CHECK(failed->name() == "DENYSOFT");
  CHECK(filesIn(base / "localhost" / "a" / "new").empty());
  CHECK(filesIn(base / "localhost" / "a" / "tmp").empty());
}

TEST_CASE("plugins/queue/maildir: path in queue.maildir.ini, relative to the install") {
  Loop loop;
  PluginHarness h("queue/maildir");
  h.host.writeConfig("queue.maildir.ini", "path=mail/store\n");
  h.host.attachLoop(&loop.loop);
  h.load();
  FakeConnection c;
  message(c, {makeAddress("u", "example.com")});
  auto a = h.call(Hook::Queue, c);
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  REQUIRE(a->calls == 1);
  CHECK(a->name() == "OK");
  CHECK(filesIn(h.host.installDir() / "mail" / "store" / "example.com" / "u" / "new").size() == 1);
  CHECK_FALSE(fs::exists(h.host.installDir() / "maildir"));
}
