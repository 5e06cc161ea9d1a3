#include "common/config/ini_locate.hpp"

#include "common/config/text_checks.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

#include <cctype>

namespace upesi::config {
namespace {

std::size_t findKeyLine(std::string_view text, const std::string& section, const std::string& key) {
  std::string current = "main";
  std::size_t found = 0;
  forEachLine(text, [&](std::string_view raw, std::size_t no) {
    auto line = text::trim(raw);
    if (line.size() >= 2 && line.front() == '[' && line.back() == ']') {
      current = std::string(text::trim(line.substr(1, line.size() - 2)));
      return;
    }
    if (current != section || line.empty() || line[0] == ';' || line[0] == '#') {
      return;
    }
    auto k = text::trim(line.substr(0, line.find('=')));
    if (k.ends_with("[]")) {
      k.remove_suffix(2);
    }
    if (k == key) {
      found = no; // the last assignment wins, as in the parser
    }
  });
  return found;
}

} // namespace

std::string iniKeyLocation(const Config& config, const std::string& name,
                           const std::string& section, const std::string& key) {
  std::vector<std::filesystem::path> candidates;
  if (auto p = config.resolve(name)) {
    candidates.push_back(*p);
  }
  if (!config.defaultsDir().empty()) {
    candidates.push_back(config.defaultsDir() / name);
  }
  for (const auto& path : candidates) {
    auto bytes = readFileBytes(path);
    if (bytes && bytes->exists) {
      if (auto line = findKeyLine(bytes->bytes, section, key); line != 0) {
        return fmt::format("{}:{}", path.string(), line);
      }
    }
  }
  return candidates.empty() ? name : candidates.front().string();
}

} // namespace upesi::config
