#include "common/config/config.hpp"
#include "common/config/smtp_config.hpp"
#include "test/support/temp_dir.hpp"
#include "worker/server/config_watcher.hpp"

#include <doctest/doctest.h>
#include <uv.h>

using upesi::config::Config;
using upesi::config::ConfigType;
using upesi::test::TempDir;

namespace {

// Rewrites config/smtp.ini and reads it again, past what the last read cached.
auto rereadSmtpIni(const TempDir& dir, Config& config, const std::string& text) {
  dir.write("config/smtp.ini", text);
  config.clearCache();
  return upesi::config::readSmtpConfig(config);
}

} // namespace

TEST_CASE("config: the install overrides the defaults; ini merges key by key") {
  TempDir dir;
  dir.write("defaults/smtp.ini", "[main]\nlisten=[::0]:25\nnodes=1\n[x]\nk=1\n");
  dir.write("defaults/host_list", "default.example\n");
  dir.write("install/config/smtp.ini", "[main]\nnodes=4\n");
  dir.write("install/config/host_list", "mine.example\n");
  Config config(dir.path() / "install/config", dir.path() / "defaults");
  auto ini = config.get("smtp.ini");
  REQUIRE(ini.ok());
  CHECK((*ini)["main"]["listen"] == "[::0]:25");
  CHECK((*ini)["main"]["nodes"] == 4);
  CHECK((*ini)["x"]["k"] == 1);
  CHECK(config.getList("host_list") == std::vector<std::string>{"mine.example"});
  CHECK(config.getString("missing", "fallback") == "fallback");
}

TEST_CASE("config: boolean defaults apply once, after the merge") {
  TempDir dir;
  dir.write("defaults/t.ini", "[main]\nenabled=false\n");
  dir.write("install/config/t.ini", "[main]\nother=1\n");
  Config config(dir.path() / "install/config", dir.path() / "defaults");
  auto ini = config.getIni("t.ini", {{"+main.enabled", "+main.absent"}});
  CHECK(ini["main"]["enabled"] == false);
  CHECK(ini["main"]["absent"] == true);
}

TEST_CASE("config: names may not leave the config directory") {
  TempDir dir;
  Config config(dir.path() / "config", {});
  CHECK_FALSE(config.get("../secret", ConfigType::Value).ok());
  CHECK_FALSE(config.get("a/../../secret", ConfigType::Value).ok());
  CHECK(config.get("tls/../me", ConfigType::Value).ok());
}

TEST_CASE("config: a parse error names the file and line, and getters fall back") {
  TempDir dir;
  auto path = dir.write("config/log.ini", "[main]\nlevel=info\n%%%\n");
  Config config(dir.path() / "config", {});
  std::vector<std::string> errors;
  config.setErrorCallback([&](const std::string& e) { errors.push_back(e); });
  auto r = config.get("log.ini");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find(path.string() + ":3:") == 0);
  auto ini = config.getIni("log.ini");
  CHECK(ini["main"].empty());
  CHECK(errors.size() == 1);
}

TEST_CASE("config: cached until the watcher reports a change; a broken edit keeps the old") {
  TempDir dir;
  dir.write("config/host_list", "a.example\n");
  Config config(dir.path() / "config", {});
  std::vector<std::string> errors;
  config.setErrorCallback([&](const std::string& e) { errors.push_back(e); });
  CHECK(config.getList("host_list") == std::vector<std::string>{"a.example"});
  int changes = 0;
  config.onChange("host_list", [&](const std::string& name) {
    CHECK(name == "host_list");
    ++changes;
  });

  dir.write("config/host_list", "b.example\n");
  CHECK(config.getList("host_list") == std::vector<std::string>{"a.example"}); // cached
  config.fileChanged("host_list");
  CHECK(changes == 1);
  CHECK(config.getList("host_list") == std::vector<std::string>{"b.example"});

  dir.write("config/host_list", std::string("c.example\n\0\n", 12));
  config.fileChanged("host_list");
  CHECK(changes == 1);
  CHECK(config.getList("host_list") == std::vector<std::string>{"b.example"});
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("host_list:2: NUL byte") != std::string::npos);
  CHECK(errors[0].find("keeping the previous version") != std::string::npos);
}

TEST_CASE("config watcher: an edit on disk reaches the callback through the loop") {
  TempDir dir;
  dir.write("config/host_list", "a.example\n");
  dir.write("config/tls/names", "one\n");
  Config config(dir.path() / "config", {});
  CHECK(config.getList("host_list").size() == 1);
  CHECK(config.getList("tls/names").size() == 1);
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<std::string> changed;
  config.onChange("host_list", [&](const std::string& n) { changed.push_back(n); });
  config.onChange("tls/names", [&](const std::string& n) { changed.push_back(n); });
  {
    upesi::worker::ConfigWatcher watcher(&loop, config, std::chrono::milliseconds(20));
    // Edit both files once the loop runs, and give up after 5 s whatever happens.
    struct State {
      TempDir* dir;
      std::vector<std::string>* changed;
      int ticks = 0;
    } state{&dir, &changed};
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    tick.data = &state;
    uv_timer_start(
        &tick,
        [](uv_timer_t* t) {
          auto* s = static_cast<State*>(t->data);
          if (++s->ticks == 1) {
            s->dir->write("config/host_list", "a.example\nb.example\n");
            s->dir->write("config/tls/names", "one\ntwo\n");
          }
          if (s->changed->size() >= 2 || s->ticks > 500) {
            uv_stop(t->loop);
          }
        },
        10, 10);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  std::sort(changed.begin(), changed.end());
  CHECK(changed == std::vector<std::string>{"host_list", "tls/names"});
  CHECK(config.getList("host_list").size() == 2);
  CHECK(config.getList("tls/names").size() == 2);
}

TEST_CASE("smtp.ini: listen grammar and validation with file:line") {
  using upesi::config::parseListenAddress;
  auto v4 = parseListenAddress("127.0.0.1:2525");
  REQUIRE(v4.ok());
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 2525);
  auto v6 = parseListenAddress("[::1]:587");
  REQUIRE(v6.ok());
  CHECK(v6->ipv6);
  CHECK(v6->toString() == "[::1]:587");
  auto bare = parseListenAddress("2525");
  REQUIRE(bare.ok());
  CHECK(bare->host == "::0");
  CHECK(parseListenAddress("10.0.0.1")->port == 25);
  for (const char* bad : {"", "1.2.3.4:0", "1.2.3.4:65536", "[::1", "::1:25", "999.1.1.1:25",
                          "host.example:25", "[::1]x", "1.2.3.4:2x"}) {
    CAPTURE(bad);
    CHECK_FALSE(parseListenAddress(bad).ok());
  }

  TempDir dir;
  auto path = dir.write("config/smtp.ini", "[main]\nlisten=127.0.0.1:25, [::1]:25\nnodes=lots\n");
  Config config(dir.path() / "config", {});
  auto smtp = upesi::config::readSmtpConfig(config);
  REQUIRE_FALSE(smtp.ok());
  CHECK(smtp.error().find(path.string() + ":3: nodes") == 0);
  smtp = rereadSmtpIni(dir, config, "[main]\nlisten=127.0.0.1:25, [::1]:26\nnodes=cpus\n");
  REQUIRE(smtp.ok());
  CHECK(smtp->listen.size() == 2);
  CHECK(smtp->nodes >= 1);
}

TEST_CASE("smtp.ini thread_pool_size: 32 by default, 1 to 1024, else an error naming the line") {
  TempDir dir;
  dir.write("config/smtp.ini", "[main]\nlisten=127.0.0.1:25\n");
  Config config(dir.path() / "config", {});
  auto smtp = upesi::config::readSmtpConfig(config);
  REQUIRE(smtp.ok());
  CHECK(smtp->thread_pool_size == 32);
  const auto path = dir.path() / "config/smtp.ini";
  for (const char* bad : {"0", "1025", "many"}) {
    smtp = rereadSmtpIni(
        dir, config, std::string("[main]\nlisten=127.0.0.1:25\nthread_pool_size=") + bad + "\n");
    REQUIRE_FALSE(smtp.ok());
    CHECK(smtp.error().find(path.string() + ":3: thread_pool_size") == 0);
  }
  smtp = rereadSmtpIni(dir, config, "[main]\nlisten=127.0.0.1:25\nthread_pool_size=1024\n");
  REQUIRE(smtp.ok());
  CHECK(smtp->thread_pool_size == 1024);
}

TEST_CASE("smtp.ini state_dir: an absolute path, else an error naming the line; empty by default") {
  TempDir dir;
  dir.write("config/smtp.ini", "[main]\nlisten=127.0.0.1:25\n");
  Config config(dir.path() / "config", {});
  auto smtp = upesi::config::readSmtpConfig(config);
  REQUIRE(smtp.ok());
  CHECK(smtp->state_dir.empty());
  const auto path = dir.path() / "config/smtp.ini";
  smtp = rereadSmtpIni(dir, config, "[main]\nlisten=127.0.0.1:25\nstate_dir=var/lib\n");
  REQUIRE_FALSE(smtp.ok());
  CHECK(smtp.error() == path.string() + ":3: state_dir must be an absolute path, not \"var/lib\"");
  smtp = rereadSmtpIni(dir, config, "[main]\nlisten=127.0.0.1:25\nstate_dir=/var/lib/upesi\n");
  REQUIRE(smtp.ok());
  CHECK(smtp->state_dir == "/var/lib/upesi");
}
