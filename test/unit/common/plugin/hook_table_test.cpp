#include "common/plugin/hook_table.hpp"

#include <doctest/doctest.h>

using upesi::Hook;
using upesi::plugin::HookTable;

namespace {
std::vector<std::string> order(const HookTable& table, Hook hook) {
  std::vector<std::string> out;
  for (const auto& e : table.entries(hook)) {
    out.push_back(e.plugin + ":" + e.method);
  }
  return out;
}
} // namespace

TEST_CASE("hook order: priority, then config order, then registration order") {
  HookTable table;
  HookTable::PluginRegistrar first(table, "first", 0, std::chrono::seconds(30));
  HookTable::PluginRegistrar second(table, "second", 1, std::chrono::seconds(30));
  second.registerHook(Hook::Rcpt, {}, 0, "a");
  first.registerHook(Hook::Rcpt, {}, 0, "b");
  first.registerHook(Hook::Rcpt, {}, 0, "c");
  second.registerHook(Hook::Rcpt, {}, -10, "early");
  first.registerHook(Hook::Rcpt, {}, 500, "late"); // clamped to 100
  first.registerHook(Hook::Mail, {}, 0, "");
  CHECK(order(table, Hook::Rcpt) ==
        std::vector<std::string>{"second:early", "first:b", "first:c", "second:a", "first:late"});
  CHECK(table.entries(Hook::Rcpt).back().priority == 100);
  CHECK(order(table, Hook::Mail) == std::vector<std::string>{"first:hook_mail"});
  CHECK(table.empty(Hook::Data));
}
