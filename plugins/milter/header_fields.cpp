#include "plugins/milter/header_fields.hpp"

namespace upesi::plugins::milter {

SplitMessage splitMessage(std::string_view message) {
  SplitMessage split;
  std::size_t position = 0;
  while (position < message.size()) {
    auto end = message.find('\n', position);
    const bool last = end == std::string_view::npos;
    std::string_view line =
        message.substr(position, last ? std::string_view::npos : end - position);
    const std::size_t next = last ? message.size() : end + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      split.body = message.substr(next);
      return split;
    }
    if ((line.front() == ' ' || line.front() == '\t') && !split.fields.empty()) {
      split.fields.back().value += '\n';
      split.fields.back().value.append(line);
      position = next;
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      split.body = message.substr(position); // not a header: the body starts here
      return split;
    }
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
      name.remove_suffix(1);
    }
    split.fields.push_back({std::string(name), std::string(line.substr(colon + 1))});
    position = next;
  }
  split.body = message.substr(message.size());
  return split;
}

std::string headerValueForFilter(std::string_view value, bool leading_space) {
  if (!leading_space && !value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  return std::string(value);
}

} // namespace upesi::plugins::milter
