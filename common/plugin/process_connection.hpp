// The stand-in connection that hooks without a client receive (init_master, init_child, the
// outbound hooks, and pre_send_trans_email for mail the server or a plugin makes): no remote,
// its own notes, and the transaction it was given, if any (Haraka's `{ transaction }` with the
// log methods: Host::log names the transaction's uuid).
#pragma once

#include <upesi/connection.hpp>

namespace upesi::plugin {

class ProcessConnection final : public Connection {
public:
  explicit ProcessConnection(std::string uuid = {}, std::shared_ptr<Transaction> transaction = {})
      : uuid_(std::move(uuid)), transaction_(std::move(transaction)) {}
  const std::string& uuid() const override { return uuid_; }
  const Endpoint& remote() const override { return endpoint_; }
  const Endpoint& local() const override { return endpoint_; }
  const std::string& helloVerb() const override { return empty_; }
  const std::string& helloHost() const override { return empty_; }
  bool tls() const override { return false; }
  bool relaying() const override { return false; }
  void setRelaying(bool) override {}
  nlohmann::json& notes() override { return notes_; }
  Results& results() override { return results_; }
  Transaction* transaction() override { return transaction_.get(); }
  std::shared_ptr<Transaction> sharedTransaction() override { return transaction_; }
  std::vector<std::string>& capabilities() override { return capabilities_; }
  unsigned transactionCount() const override { return 0; }
  bool earlyTalker() const override { return false; }
  void disconnect() override {}

private:
  std::string uuid_;
  std::shared_ptr<Transaction> transaction_;
  std::string empty_;
  Endpoint endpoint_;
  nlohmann::json notes_ = nlohmann::json::object();
  Results results_;
  std::vector<std::string> capabilities_;
};

} // namespace upesi::plugin
