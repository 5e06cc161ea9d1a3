// What a get_mx plugin answers: one MX a line, in the forms Haraka's get_mx takes, read into
// the MxHost the delivery tries.
#pragma once

#include "common/dns/mx_host.hpp"
#include "common/util/result.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace upesi::outbound {

/// Parses what a get_mx plugin answers, one line per MX: "host", "host:port", "[v6addr]:port",
/// "smtp://[user:pass@]host[:port]", "lmtp://host[:port]" (port 24), or a JSON object with
/// Haraka's HarakaMx fields (exchange, priority, port, bind, bind_helo, using_lmtp, auth_user,
/// auth_pass, auth_type) and ours, auth_required; bind_ehlo (the name Haraka's Outbound.md
/// gives) is taken as bind_helo, which wins if both differ (a warning). In JSON, a field that is
/// absent or null takes its default; one of the wrong type, a port outside 1..65535 or a
/// priority outside 0..65535 is an error naming it. An error or warning names the answer as
/// shownSpec does.
Result<dns::MxHost> parseMxSpec(const std::string& spec,
                                std::vector<std::string>* warnings = nullptr);

/// A get_mx answer as a log line may show it: quoted, the password (smtp://user:password@...,
/// JSON auth_pass) replaced by "***", the user kept. JSON that does not parse is shown only if
/// it cannot hold a password.
std::string shownSpec(std::string_view spec);

} // namespace upesi::outbound
