#include "test/support/fake_connection.hpp"
#include "test/support/plugin_harness.hpp"

#include <doctest/doctest.h>
#include <uv.h>

#include <filesystem>

using namespace upesi;
using namespace upesi::test;
namespace fs = std::filesystem;

// The notes are set by other plugins and may hold bytes from the network that are not UTF-8:
// nlohmann's dump() of a non-string note threw type_error 316 (here on the loop, after the copy).
TEST_CASE("plugins/queue/quarantine: notes that are not UTF-8 name a folder and an action") {
  uv_loop_t loop{};
  uv_loop_init(&loop);
  {
    PluginHarness h("queue/quarantine");
    h.host.attachLoop(&loop);
    h.load();
    FakeConnection c;
    auto& txn = c.begin(makeAddress("sender", "client.example"));
    txn.rcpt_to = {makeAddress("rcpt", "example.net")};
    txn.header_lines = {{"Subject", "hello"}};
    txn.body = "body\r\n";
    txn.notes()["quarantine"] = nlohmann::json::array({"spam\xff"});
    txn.notes()["quarantine_action"] = nlohmann::json::array({"\xfe"});

    std::shared_ptr<Answer> a;
    REQUIRE_NOTHROW(a = h.call(Hook::Queue, c));
    REQUIRE_NOTHROW(uv_run(&loop, UV_RUN_DEFAULT));
    REQUIRE(a->calls == 1);
    CHECK(a->name() == "CONT");
    CHECK(h.host.logged("is not a code: ignored"));
    REQUIRE(txn.notes()["quarantined"].is_string());
    const fs::path copy = txn.notes()["quarantined"].get<std::string>();
    CHECK(fs::is_regular_file(copy));
    // ["spam\xff"] written out with U+FFFD for the bad byte, then made a safe sub-directory.
    CHECK(copy.parent_path().parent_path().filename() == "[\"spam\xef\xbf\xbd\"]");
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}
