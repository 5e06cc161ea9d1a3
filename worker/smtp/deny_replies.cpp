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

Reply pluginRefusal(int code, std::string_view enhanced, std::vector<std::string> lines) {
  Reply reply{code, std::string(enhanced), std::move(lines)};
  if (reply.lines.empty()) {
    return reply;
  }
  std::string_view first = reply.lines.front();
  const char cls = static_cast<char>('0' + code / 100);
  if (first.size() < 10 || first[0] != cls || first[1] < '0' || first[1] > '9' || first[2] < '0' ||
      first[2] > '9' || first[3] != ' ' || first[4] != cls ||
      !startsWithEnhancedCode(first.substr(4))) {
    return reply;
  }
  const std::string_view rest = first.substr(4);
  const std::size_t space = rest.find(' ');
  reply.code = (first[0] - '0') * 100 + (first[1] - '0') * 10 + (first[2] - '0');
  reply.enhanced = std::string(rest.substr(0, space));
  reply.lines.front() =
      space == std::string_view::npos ? std::string() : std::string(rest.substr(space + 1));
  return reply;
}

} // namespace upesi::smtp
