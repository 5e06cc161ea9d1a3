// Bytes from the network never reach a log line raw: control characters and invalid UTF-8 are
// written as escapes, so a client cannot forge log lines or break a JSON log.
#pragma once

#include <string>
#include <string_view>

namespace upesi::log {

/// Appends `text` to `out` with \r \n \t \\ \" and other control bytes or invalid UTF-8
/// escaped (\xNN), so that it can stand inside a quoted value (helo="..."). Valid UTF-8 passes
/// through.
void appendEscaped(std::string& out, std::string_view text);

/// For a whole log line whose values were escaped already: control bytes and invalid UTF-8
/// escaped as above, backslashes and quotes left as they are.
void appendLineSafe(std::string& out, std::string_view text);

std::string escaped(std::string_view text);

} // namespace upesi::log
