#include "plugins/rspamd/request_fields.hpp"

namespace upesi::plugins::rspamd {

namespace {

// The name fcrdns confirmed, else the rDNS name the connection has.
std::string clientHostname(Connection& connection) {
  const auto& fcrdns = connection.results().get("fcrdns");
  if (fcrdns.is_object() && fcrdns.contains("fcrdns") && fcrdns["fcrdns"].is_array() &&
      !fcrdns["fcrdns"].empty() && fcrdns["fcrdns"][0].is_string()) {
    return fcrdns["fcrdns"][0].get<std::string>();
  }
  return connection.remote().host;
}

} // namespace

std::vector<std::pair<std::string, std::string>>
requestFields(const Settings& settings, Connection& connection, Transaction& txn) {
  auto fields = settings.fixed_headers;
  auto add = [&fields](const char* name, std::string value) {
    if (!value.empty()) {
      fields.emplace_back(name, std::move(value));
    }
  };
  add("User", connection.authUser());
  add("IP", connection.remote().ip);
  add("Hostname", clientHostname(connection));
  add("Helo", connection.helloHost());
  add("From", txn.mailFrom().address());
  const auto& rcpts = txn.rcptTo();
  for (const auto& rcpt : rcpts) {
    add("Rcpt", rcpt.address());
  }
  if (rcpts.size() == 1) {
    add("Deliver-To", rcpts.front().address()); // rspamd's per-user settings
  }
  add("Queue-Id", txn.uuid());
  if (connection.tls()) {
    add("TLS-Cipher", connection.tlsInfo().cipher);
    add("TLS-Version", connection.tlsInfo().version);
  }
  return fields;
}

} // namespace upesi::plugins::rspamd
