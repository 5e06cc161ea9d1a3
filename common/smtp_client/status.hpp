// Status: the outcome of one step of an SMTP conversation, a reply of the server or a failure
// of our own, as the SmtpClient hands it to its caller.
#pragma once

#include "common/smtp_client/reply_parser.hpp"

#include <string>

namespace upesi::smtp_client {

enum class Outcome { Ok, Temporary, Permanent };
const char* toString(Outcome outcome);

/// The outcome of one step: a reply of the server, or a failure of our own (code 0).
struct Status {
  Outcome outcome = Outcome::Ok;
  int code = 0;         ///< the server's reply code; 0 when no reply decided it
  std::string enhanced; ///< "5.1.1", or empty
  std::string reason;   ///< "250 2.0.0 Ok: queued", "connection refused", ...

  bool ok() const { return outcome == Outcome::Ok; }
  static Status fromReply(const ServerReply& reply);
  static Status temporary(std::string reason) { return {Outcome::Temporary, 0, {}, reason}; }
  static Status permanent(std::string reason) { return {Outcome::Permanent, 0, {}, reason}; }
};

} // namespace upesi::smtp_client
