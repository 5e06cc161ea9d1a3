// An example plugin built outside the tree, against the installed headers only:
//   g++ -std=c++20 -shared -fPIC $(pkg-config --cflags upesi) hello.cpp -o DIR/plugins/hello.so
// It greets HELO/EHLO names, and turns away a client that calls itself "stranger".
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

class Hello final : public upesi::Plugin {
public:
  void registerHooks(upesi::Host& host, upesi::Registrar& hooks) override {
    host.log(upesi::LogLevel::Notice, "hello plugin loaded");
    auto greet = [&host](upesi::Next next, upesi::Connection& connection,
                         const upesi::HookParams& params) {
      if (params.host == "stranger") {
        next(upesi::Code::Deny, "hello plugin does not talk to strangers");
        return;
      }
      connection.notes()["hello"] = std::string(params.host);
      host.log(upesi::LogLevel::Info, "said hello", &connection);
      next(upesi::Code::Cont);
    };
    hooks.registerHook(upesi::Hook::Helo, greet);
    hooks.registerHook(upesi::Hook::Ehlo, greet);
  }
};

UPESI_PLUGIN(Hello, "hello", "An example external plugin: refuses HELO stranger.")
