#include "common/smtp_client/quitting_clients.hpp"

#include <utility>

namespace upesi::smtp_client {

void QuittingClients::quitAndRelease(std::shared_ptr<SmtpClient> client) {
  if (!client) {
    return;
  }
  if (!client->ready()) {
    client->close();
    return;
  }
  SmtpClient* raw = client.get();
  clients_.emplace(raw, std::move(client));
  // The client is freed inside its own callback, which it allows.
  raw->quit([this, raw] { clients_.erase(raw); });
}

void QuittingClients::dropAll() {
  auto clients = std::move(clients_);
  clients_.clear();
  for (auto& [raw, client] : clients) {
    client->close();
  }
}

} // namespace upesi::smtp_client
