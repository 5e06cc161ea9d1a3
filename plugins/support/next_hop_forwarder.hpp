// NextHopForwarder: hands a message over to a configured next hop at queue time, over SMTP
// (queue/smtp_forward) or LMTP (queue/lmtp), and answers the queue hook with the next hop's
// own reply, so that our 250 means the next hop has taken the message.
//
// One forward: pick the route (forward_config), copy the message dot-stuffed with CRLF on the
// thread pool, resolve the host (dns::MxResolver's next hop: an IP literal, localhost, else A
// then AAAA through the host's resolver), connect with the SMTP client, send every recipient in
// one transaction, map the outcome to OK / DENY / DENYSOFT (forward_verdict), QUIT. Nothing blocks
// the loop; the transaction is kept alive with sharedTransaction() meanwhile. The message is held
// in memory while it is sent (bounded by databytes).
#pragma once

#include <upesi/code.hpp>
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>

#include "common/dns/mx_resolver.hpp"
#include "common/smtp_client/quitting_clients.hpp"
#include "common/smtp_client/smtp_client.hpp"
#include "plugins/support/forward_config.hpp"

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace upesi::plugins {

class NextHopForwarder {
public:
  explicit NextHopForwarder(ForwardKind kind);

  /// Reads the config file (again, on a change); each bad value is logged as an error.
  void load(Host& host);

  std::vector<std::string> booleans() const { return {"+main.enable_outbound"}; }

  const ForwardKind& kind() const { return kind_; }
  const ForwardConfig& config() const { return config_; }

  /// The queue (outbound=false) or queue_outbound (true) hook.
  void forward(const Next& next, Connection& connection, bool outbound);

  /// Drops every forward in flight (their hooks are answered by the plugin timeout, if ever)
  /// and the connections still saying QUIT.
  void shutdown();

private:
  struct Job {
    std::shared_ptr<Transaction> txn;
    Next next{std::weak_ptr<Next::Target>(), 0};
    ForwardRoute route;
    std::string uuid;
    std::string bytes;
    bool read_ok = false;
    bool done = false;
    std::unique_ptr<smtp_client::SmtpClient> client;
  };
  using JobPtr = std::shared_ptr<Job>;

  std::string where(const Job& job, const std::string& ip) const;
  void resolve(const JobPtr& job);
  void connect(const JobPtr& job, const std::string& ip);
  void sent(const JobPtr& job, const std::string& ip, const smtp_client::DeliveryResult& result);
  void finish(const JobPtr& job, Code code, const std::string& text, const std::string& detail);

  ForwardKind kind_;
  Host* host_ = nullptr;
  std::optional<dns::MxResolver> resolver_; // on host_'s dnsQuery
  ForwardConfig config_;
  std::set<JobPtr> jobs_;
  smtp_client::QuittingClients quitting_;
};

} // namespace upesi::plugins
