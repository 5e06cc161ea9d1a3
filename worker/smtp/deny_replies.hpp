// The reply codes a hook's DENY and DENYSOFT (and their _DISCONNECT forms) give, per hook, as
// Haraka answers them; the text is the plugin's, else the session's default for the command.
#pragma once

#include <upesi/hook.hpp>

#include <optional>
#include <string_view>

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

} // namespace upesi::smtp
