// QuittingClients: SMTP clients their owner is done with, each saying QUIT (RFC 5321 §4.1.1.10:
// the session ends with the client's QUIT and the server's 221), kept until that reply or the
// timeout lets them go. Whoever makes clients keeps one (the outbound connection pool, a plugin
// that talks to a next hop), so a quitting client never outlives its maker: the destructor, or
// dropAll() at shutdown, closes those still talking, before the loop is closed.
//
// Threading: the loop thread of the clients.
#pragma once

#include "common/smtp_client/smtp_client.hpp"

#include <cstddef>
#include <map>
#include <memory>

namespace upesi::smtp_client {

class QuittingClients {
public:
  QuittingClients() = default;
  ~QuittingClients() { dropAll(); }
  QuittingClients(const QuittingClients&) = delete;
  QuittingClients& operator=(const QuittingClients&) = delete;

  /// Says QUIT (if the connection is usable; else closes it at once) and frees the client
  /// when that is done.
  void quitAndRelease(std::shared_ptr<SmtpClient> client);
  /// Closes and frees, without waiting, the clients still saying QUIT.
  void dropAll();

  std::size_t size() const { return clients_.size(); }

private:
  std::map<SmtpClient*, std::shared_ptr<SmtpClient>> clients_;
};

} // namespace upesi::smtp_client
