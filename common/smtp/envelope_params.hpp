// The values of the DSN (RFC 3461), REQUIRETLS (RFC 8689) and MT-PRIORITY (RFC 6710)
// parameters of MAIL and RCPT, and xtext (RFC 3461 4), the encoding ENVID and ORCPT use.
//
// Pure functions over text from the network: every problem comes back as a value whose text
// fits a 501 reply.
#pragma once

#include <upesi/envelope_options.hpp>

#include "common/util/result.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace upesi::smtp {

/// RFC 3461 4.4: "ENVID ... MUST NOT exceed 100 characters".
inline constexpr std::size_t MaxEnvidLength = 100;
/// RFC 3461 4.2: ORCPT "MUST NOT exceed 500 characters".
inline constexpr std::size_t MaxOrcptLength = 500;

/// Decodes xtext: printable ASCII but '+' and '=', and "+XX" (two upper-case hex digits) for
/// any byte. The decoded text must be printable ASCII (space included), as RFC 3461 asks of
/// ENVID and ORCPT, so that it can go in a DSN's header fields.
Result<std::string> decodeXtext(std::string_view text);
/// Encodes `text` as xtext: '+', '=' and bytes outside 33..126 as "+XX".
std::string encodeXtext(std::string_view text);

/// RET=FULL|HDRS, case-insensitive.
Result<DsnReturn> parseDsnRet(std::string_view value);
/// ENVID=xtext, at most MaxEnvidLength characters as sent; the decoded text.
Result<std::string> parseDsnEnvid(std::string_view value);
/// NOTIFY=NEVER, or a comma-separated list of SUCCESS, FAILURE, DELAY (each once),
/// case-insensitive.
Result<DsnNotify> parseDsnNotify(std::string_view value);
/// "SUCCESS,FAILURE,DELAY" as given (in that order), "NEVER", or "" when not given.
std::string formatDsnNotify(const DsnNotify& notify);
/// ORCPT=addr-type;xtext, at most MaxOrcptLength characters as sent: fills the options'
/// orcpt_type (an atom, as sent) and orcpt_address (decoded, not empty).
Result<std::monostate> parseDsnOrcpt(std::string_view value, RcptOptions& options);

/// MT-PRIORITY=[+|-]DIGIT, -9 .. 9 (RFC 6710 section 3).
Result<int> parseMtPriority(std::string_view value);
/// True for the priority assignment policies RFC 6710 names: MIXER, STANAG4406, NSEP.
bool isMtPriorityPolicy(std::string_view policy);

} // namespace upesi::smtp
