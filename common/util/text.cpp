#include "common/util/text.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace upesi {

std::string_view trimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string> splitList(std::string_view text, std::string_view separators) {
  std::vector<std::string> items;
  while (!text.empty()) {
    std::size_t end = std::min(text.find_first_of(separators), text.size());
    std::string_view item = trimSpace(text.substr(0, end));
    if (!item.empty()) {
      items.emplace_back(item);
    }
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  return items;
}

std::string rfc5322Now() {
  return rfc5322Date(static_cast<std::int64_t>(std::time(nullptr)));
}

std::string rfc5322Date(std::int64_t seconds) {
  auto when = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&when, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

} // namespace upesi
