#include "worker/hooks/server_hooks.hpp"

#include "worker/hooks/hook_runner.hpp"

#include <optional>

namespace upesi::worker {
namespace {

class ProcessConnection final : public Connection {
public:
  const std::string& uuid() const override { return empty_; }
  const Endpoint& remote() const override { return endpoint_; }
  const Endpoint& local() const override { return endpoint_; }
  const std::string& helloVerb() const override { return empty_; }
  const std::string& helloHost() const override { return empty_; }
  bool tls() const override { return false; }
  bool relaying() const override { return false; }
  void setRelaying(bool) override {}
  nlohmann::json& notes() override { return notes_; }
  Results& results() override { return results_; }
  Transaction* transaction() override { return nullptr; }
  std::shared_ptr<Transaction> sharedTransaction() override { return nullptr; }
  std::vector<std::string>& capabilities() override { return capabilities_; }
  unsigned transactionCount() const override { return 0; }
  bool earlyTalker() const override { return false; }
  void disconnect() override {}

private:
  std::string empty_;
  Endpoint endpoint_;
  nlohmann::json notes_ = nlohmann::json::object();
  Results results_;
  std::vector<std::string> capabilities_;
};

} // namespace

HookResult runServerHook(uv_loop_t* loop, const plugin::HookTable& table, Hook hook) {
  ProcessConnection connection;
  std::optional<HookResult> outcome;
  auto runner = HookRunner::run(loop, table, hook, connection, {}, "",
                                [&](HookResult result) { outcome = std::move(result); });
  while (!outcome && loop != nullptr && uv_run(loop, UV_RUN_ONCE) != 0) {
  }
  if (!outcome) {
    runner->cancel();
    return HookResult{Code::DenySoft, {"hook never answered"}, ""};
  }
  return *outcome;
}

} // namespace upesi::worker
