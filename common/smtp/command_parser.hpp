// SMTP command lines: the verb and its argument, and the arguments of MAIL and RCPT with their
// ESMTP parameters (RFC 5321 §4.1.2, RFC 1869/1870, RFC 6152, RFC 3030, RFC 6531).
//
// Pure functions over one line whose CRLF the line reader already removed. The caller owns the
// replies; every problem comes back as a value with a text fit for the reply.
#pragma once

#include <upesi/address.hpp>

#include "common/smtp/address_parser.hpp"
#include "common/util/result.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::smtp {

/// What makes a line unusable before its verb is even looked at.
enum class LineDefect {
  None,
  Empty,    ///< nothing, or a space, before the verb: answer 500
  BadVerb,  ///< the verb is not all ASCII letters: answer 500
  Nul,      ///< a NUL byte somewhere in the line: answer 500
  EightBit, ///< a byte >= 0x80 where none is allowed: answer 501
};

/// A command line split Haraka's way: the verb up to the first space, then the rest after the
/// run of spaces that follows it.
struct CommandLine {
  std::string verb;     ///< upper-cased ("MAIL"); as sent when the verb is not all letters
  std::string argument; ///< the rest, trailing spaces kept; "" when there is none
  LineDefect defect = LineDefect::None;

  /// A short text for the defect ("Syntax error (8-bit characters not allowed)"); "" for None.
  std::string_view defectMessage() const;
};

/// Splits `line`. Bytes >= 0x80 are a defect, except in the argument of MAIL and RCPT when
/// `allow_utf8_mail_rcpt` says the client may send UTF-8 addresses (SMTPUTF8, RFC 6531). A NUL
/// byte anywhere wins over every other defect.
CommandLine splitCommandLine(std::string_view line, bool allow_utf8_mail_rcpt);

/// ESMTP parameters in the order given, keywords upper-cased, values as sent ("" if none).
using EsmtpParams = std::vector<std::pair<std::string, std::string>>;

/// A parameter count no real client reaches; more is refused instead of stored.
inline constexpr std::size_t MaxEsmtpParams = 32;

/// The parsed argument of MAIL (`FROM:<path> params`) or RCPT (`TO:<path> params`).
struct PathArgument {
  Address address;
  EsmtpParams params;
};

/// The argument of MAIL or RCPT cut into its pieces, nothing validated yet but the layout.
struct PathArgumentParts {
  std::string_view path;   ///< "<user@host>", or "user@host" when lenient
  std::string_view params; ///< the text after the path and its spaces; "" if none
};

/// Cuts "FROM:<a@b> SIZE=10" (prefix "FROM:", matched case-insensitively) into its path and its
/// parameters. The path ends at the '>' that closes it (a '>' in a quoted local part does not),
/// or, without brackets, at the first space outside quotes.
Result<PathArgumentParts> splitPathArgument(std::string_view argument, std::string_view prefix,
                                            const PathOptions& options);

/// Parses "KEY=value KEY2": keyword = ALPHA/DIGIT then ALPHA/DIGIT/'-'; value = printable
/// characters but '=' and SP (UTF-8 allowed, RFC 6531 §3.3). Duplicate keywords are an error.
Result<EsmtpParams> parseEsmtpParams(std::string_view text);

/// The argument of MAIL: "FROM:<reverse-path> [params]".
Result<PathArgument> parseMailArgument(std::string_view argument,
                                       const PathOptions& options = PathOptions::lenient());

/// The argument of RCPT: "TO:<forward-path> [params]".
Result<PathArgument> parseRcptArgument(std::string_view argument,
                                       const PathOptions& options = PathOptions::lenient());

/// The value of `keyword` (upper-case) in `params`, or nullptr if it is absent.
const std::string* findParam(const EsmtpParams& params, std::string_view keyword);

/// SIZE=<digits> (RFC 1870: 1*20DIGIT). Errors name the problem so the server can answer 501.
Result<std::uint64_t> parseSizeValue(std::string_view value);

enum class BodyType { SevenBit, EightBitMime, BinaryMime };

/// BODY=7BIT|8BITMIME|BINARYMIME, case-insensitive (RFC 6152, RFC 3030).
Result<BodyType> parseBodyValue(std::string_view value);

} // namespace upesi::smtp
