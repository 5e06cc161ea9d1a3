// Loads one built-in plugin into a HookTable over a FakeHost and calls the functions it
// registered with a Next whose answers are recorded, so a test can check the code, the message
// and that next was called exactly once.
#pragma once

#include <upesi/connection.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/plugin/builtin_plugins.hpp"
#include "common/plugin/hook_table.hpp"
#include "test/support/fake_host.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace upesi::test {

/// Records every answer given to a Next.
class Answer final : public Next::Target {
public:
  void resolve(std::uint64_t, Code answer, std::vector<std::string> message) override {
    ++calls;
    code = answer;
    lines = std::move(message);
  }
  bool isPending(std::uint64_t) const override { return calls == 0; }

  /// The code's name ("OK", "DENY"…), so that doctest prints it on failure.
  std::string name() const { return std::string(toString(code)); }

  std::string text() const {
    std::string out;
    for (const auto& line : lines) {
      out += out.empty() ? line : "\n" + line;
    }
    return out;
  }

  int calls = 0;
  Code code = Code::Cont;
  std::vector<std::string> lines;
};

class PluginHarness {
public:
  explicit PluginHarness(std::string plugin_name) : name(std::move(plugin_name)), host(name) {}
  ~PluginHarness() {
    if (plugin) {
      plugin->shutdown();
    }
  }

  /// Constructs the plugin from the built-in table and runs its registerHooks.
  void load() {
    for (const auto& builtin : plugin::builtinPlugins()) {
      if (builtin.name == name) {
        help = std::string(builtin.help);
        plugin = builtin.create();
      }
    }
    if (!plugin) {
      throw std::runtime_error("no built-in plugin " + name);
    }
    plugin::HookTable::PluginRegistrar registrar(table, name, 0, std::chrono::seconds(30));
    plugin->registerHooks(host, registrar);
  }

  std::size_t count(Hook hook) const { return table.entries(hook).size(); }

  /// Calls the `index`-th function registered on `hook`; the answer may come later.
  std::shared_ptr<Answer> call(Hook hook, Connection& connection, const HookParams& params = {},
                               std::size_t index = 0) {
    const auto& entries = table.entries(hook);
    if (index >= entries.size()) {
      throw std::runtime_error("hook not registered");
    }
    auto answer = std::make_shared<Answer>();
    answers_.push_back(answer);
    entries[index].fn(Next(answer, ++ticket_), connection, params);
    return answer;
  }

  /// Calls every function on `hook` in order, as the chain would, until one answers other than
  /// CONT: that answer as "NAME text", or "CONT". Each must answer at once.
  std::string firstAnswer(Hook hook, Connection& connection) {
    for (std::size_t i = 0; i < count(hook); ++i) {
      auto answer = call(hook, connection, {}, i);
      if (answer->calls != 1) {
        throw std::runtime_error("a hook function did not answer exactly once");
      }
      if (answer->code != Code::Cont) {
        return answer->name() + " " + answer->text();
      }
    }
    return "CONT";
  }

  /// Calls with the recipient or sender as params.address.
  std::shared_ptr<Answer> callWith(Hook hook, Connection& connection, const Address& address) {
    HookParams params;
    params.address = &address;
    return call(hook, connection, params);
  }

  std::string name;
  FakeHost host;
  plugin::HookTable table;
  std::unique_ptr<Plugin> plugin;
  std::string help;

private:
  std::vector<std::shared_ptr<Answer>> answers_;
  std::uint64_t ticket_ = 0;
};

} // namespace upesi::test
