// Bytes from the network never reach a log line raw: control characters and invalid UTF-8 are
// written as escapes, so a client cannot forge log lines or break a JSON log.
#pragma once

#include <string>
#include <string_view>

namespace upesi::log {

/// Appends `text` to `out` with \r \n \t \\ and other control bytes or invalid UTF-8 escaped
/// (\xNN). Valid UTF-8 passes through.
void appendEscaped(std::string& out, std::string_view text);

std::string escaped(std::string_view text);

} // namespace upesi::log
