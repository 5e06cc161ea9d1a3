// The header of a message as the core writes it (CRLF line ends), cut into fields for the
// filter's HEADER commands: the name, and the value after the colon with its folding kept as
// LF line ends (as Sendmail and Postfix send it).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::plugins::milter {

struct HeaderField {
  std::string name;
  std::string value; ///< after the colon, leading space included
};

struct SplitMessage {
  std::vector<HeaderField> fields;
  std::string_view body; ///< what follows the empty line
};

/// `message`: header, empty line, body. A line that is neither a field nor a continuation
/// ends the header (the rest is body).
SplitMessage splitMessage(std::string_view message);

/// The value as a filter wants it: without its leading space unless `leading_space`.
std::string headerValueForFilter(std::string_view value, bool leading_space);

} // namespace upesi::plugins::milter
