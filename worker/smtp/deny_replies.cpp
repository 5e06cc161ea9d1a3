#include "worker/smtp/deny_replies.hpp"

namespace upesi::smtp {

std::optional<DenyReplies> denyRepliesFor(Hook hook) {
  switch (hook) {
  case Hook::Helo:
  case Hook::Ehlo:
  case Hook::Mail:
  case Hook::Rcpt:
  case Hook::RcptOk:
  case Hook::DataPost:
    return DenyReplies{550, "5.7.1", 450, "4.7.1"};
  case Hook::Data: // also the first BDAT chunk's
    return DenyReplies{554, "5.7.1", 451, "4.7.1"};
  case Hook::Queue:
  case Hook::QueueOutbound:
    return DenyReplies{550, "5.7.1", 451, "4.3.0"};
  case Hook::Vrfy:
    return DenyReplies{550, "5.1.1", 450, "4.1.1"};
  case Hook::Noop:
    return DenyReplies{500, "5.5.1", 450, "4.7.1"};
  case Hook::UnrecognizedCommand:
    return DenyReplies{500, "5.5.1", 450, "4.5.1"};
  default:
    return std::nullopt;
  }
}

} // namespace upesi::smtp
