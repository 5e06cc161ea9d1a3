// The Authentication-Results field the core writes (RFC 8601): one per message, from what the
// spf, dkim, dmarc and auth plugins recorded, with this server's name as authserv-id; and the
// removal of inbound fields that claim that name, before any plugin reads the header.
#pragma once

#include <upesi/results.hpp>

#include "common/mail/header.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace upesi::smtp {

/// The results key under which a plugin records one method's result for the field, as
/// {"method", "result", optional "version", "comment", "reason", "properties":
/// {"<ptype>.<property>": value}}; push() it so several entries collect.
inline constexpr std::string_view AuthResultsKey = "auth_results";

/// RFC 8601 section 5: removes every Authentication-Results field whose authserv-id is
/// `authserv_id` (compared case-insensitively); returns how many went.
std::size_t removeForgedAuthResults(mail::Header& header, std::string_view authserv_id);

/// The field's value from the entries in `connection` then `transaction` results, methods in
/// the usual order (auth, iprev, spf, dkim, dmarc, then others); nullopt when there are none.
std::optional<std::string> authResultsValue(const Results& connection, const Results& transaction,
                                            std::string_view authserv_id);

} // namespace upesi::smtp
