#include "common/config/config.hpp"
#include "common/plugin/plugin_host.hpp"
#include "test/support/temp_dir.hpp"

#include <doctest/doctest.h>

using upesi::config::Config;
using upesi::plugin::PluginHost;
using upesi::plugin::ProcessServices;
using upesi::test::TempDir;

TEST_CASE("plugin host: a plugin's own defaults lie between the install and the shipped ones") {
  TempDir dir;
  dir.write("etc/greeter.ini", "[main]\nword=shipped\nshipped=1\nown=0\n");
  dir.write("inst/plugins/greeter/config/greeter.ini", "[main]\nword=own\nown=1\n");
  dir.write("inst/plugins/greeter/config/greeter.list", "from-plugin\n");
  dir.write("inst/config/greeter.ini", "[main]\nword=install\n");
  Config config(dir.path() / "inst/config", dir.path() / "etc");
  ProcessServices services;
  PluginHost host("greeter", config, dir.path() / "inst", services);
  auto ini = host.config("greeter.ini", "ini", {});
  CHECK(ini["main"]["word"] == "install");
  CHECK(ini["main"]["own"] == 1);
  CHECK(ini["main"]["shipped"] == 1);
  CHECK(host.config("greeter.list", "list", {}) == nlohmann::json::array({"from-plugin"}));
  // Another plugin does not see them.
  PluginHost other("other", config, dir.path() / "inst", services);
  CHECK(other.config("greeter.list", "list", {}).empty());
}

TEST_CASE("plugin host: inherits reads the base plugin's config beneath the derived one's") {
  // As rcpt_to.in_host_list inherits rcpt_to.host_list_base in Haraka.
  TempDir dir;
  dir.write("inst/plugins/base/config/base.ini", "[main]\nshared=base-default\nlimit=1\n");
  dir.write("inst/config/base.ini", "[main]\nlimit=5\nbase_only=yes\n");
  dir.write("inst/config/derived.ini", "[main]\nlimit=9\n");
  Config config(dir.path() / "inst/config", dir.path() / "etc");
  ProcessServices services;
  PluginHost host("derived", config, dir.path() / "inst", services);
  CHECK_FALSE(host.config("derived.ini", "ini", {})["main"].contains("base_only"));
  host.inherits("base");
  auto ini = host.config("derived.ini", "ini", {"+main.enabled"});
  CHECK(ini["main"]["limit"] == 9);
  CHECK(ini["main"]["base_only"] == "yes");
  CHECK(ini["main"]["shared"] == "base-default");
  CHECK(ini["main"]["enabled"] == true);
  // Files not named after the plugin are not inherited.
  dir.write("inst/config/base.list", "b\n");
  CHECK(host.config("other.list", "list", {}).empty());
}

TEST_CASE("plugin host: timers fire once in order, a cleared one never, and none after the host") {
  TempDir dir;
  Config config(dir.path() / "inst/config", dir.path() / "etc");
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  ProcessServices services;
  services.loop = &loop;
  std::vector<std::string> fired;
  {
    PluginHost host("timed", config, dir.path() / "inst", services);
    host.setTimeout(20, [&] { fired.push_back("late"); });
    host.setTimeout(1, [&] {
      fired.push_back("early");
      host.setTimeout(1, [&] { fired.push_back("from a callback"); });
    });
    auto cleared = host.setTimeout(5, [&] { fired.push_back("cleared"); });
    host.clearTimeout(cleared);
    host.clearTimeout(cleared); // twice, and unknown ids, are harmless
    host.clearTimeout(9999);
    host.setTimeout(2, [] { throw std::runtime_error("a plugin's bug"); }); // logged, not fatal
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(fired == std::vector<std::string>{"early", "from a callback", "late"});
    host.setTimeout(1, [&] { fired.push_back("after the host"); });
  }
  uv_run(&loop, UV_RUN_DEFAULT); // the host is gone: its timer closes without firing
  CHECK(fired.size() == 3);
  CHECK(uv_loop_close(&loop) == 0);
}
