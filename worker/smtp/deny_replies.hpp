// The reply codes a hook's DENY and DENYSOFT (and their _DISCONNECT forms) give, per hook, as
// Haraka answers them; the text is the plugin's, else the session's default for the command.
#pragma once

#include <upesi/hook.hpp>

#include "worker/smtp/reply.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::smtp {

struct DenyReplies {
  int deny_code;
  std::string_view deny_enhanced;
  int soft_code;
  std::string_view soft_enhanced;
};

/// The codes for the hooks whose refusals the session answers this way; none for the others
/// (connect and lookup_rdns answer with their own rules, the rest cannot refuse a command).
std::optional<DenyReplies> denyRepliesFor(Hook hook);

/// A plugin's refusal: `code` and `enhanced`, unless its first line starts with a reply code of
/// the same class and an enhanced code of that class ("451 4.7.1 Greylisted", what Haraka's DSN
/// objects give), which then stand instead, taken off the line.
Reply pluginRefusal(int code, std::string_view enhanced, std::vector<std::string> lines);

} // namespace upesi::smtp
