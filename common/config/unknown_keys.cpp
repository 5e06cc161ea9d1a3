#include "common/config/unknown_keys.hpp"

#include "common/config/ini_lines.hpp"
#include "common/config/text_checks.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

#include <optional>

namespace upesi::config {
namespace {

// The known name nearest to `name`, if close enough to be what was meant.
std::optional<std::string_view> nearest(std::string_view name,
                                        const std::vector<std::string_view>& candidates) {
  std::optional<std::string_view> best;
  std::size_t best_distance = 0;
  for (auto candidate : candidates) {
    std::size_t d = editDistance(name, candidate);
    if (!best || d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  // At most two edits, and fewer than half of the shorter name: "ca" is no typo of "key".
  if (best && best_distance <= 2 && 2 * best_distance < std::min(name.size(), best->size())) {
    return best;
  }
  return std::nullopt;
}

std::string didYouMean(std::optional<std::string_view> name, std::string_view prefix = "",
                       std::string_view suffix = "") {
  return name ? fmt::format(" (did you mean {}{}{}?)", prefix, *name, suffix) : "";
}

const KnownSection* findSection(const KnownIniFile& known, std::string_view name) {
  const KnownSection* any = nullptr;
  for (const auto& section : known.sections) {
    if (section.name == name) {
      return &section;
    }
    if (section.name == "*") {
      any = &section;
    }
  }
  return any;
}

} // namespace

std::vector<std::string> unknownIniKeys(std::string_view text, const std::string& path,
                                        const KnownIniFile& known) {
  std::vector<std::string> warnings;
  const KnownSection* section = findSection(known, "main");
  std::string section_name = "main";
  bool header_seen = false;
  forEachIniLine(text, [&](const IniLine& line) {
    const std::size_t line_no = line.number;
    if (line.header) {
      header_seen = true;
      section_name = std::string(line.name);
      section = findSection(known, section_name);
      if (section == nullptr) {
        std::vector<std::string_view> names;
        for (const auto& s : known.sections) {
          names.push_back(s.name);
        }
        warnings.push_back(fmt::format("{}:{}: unknown section [{}]{}", path, line_no, section_name,
                                       didYouMean(nearest(section_name, names), "[", "]")));
      }
      return;
    }
    if (section == nullptr && !header_seen) {
      // Keys before any [section] are [main]'s, which this file does not have.
      warnings.push_back(fmt::format("{}:{}: unknown key {} outside a section (this file's keys "
                                     "go in [{}])",
                                     path, line_no, line.name, known.sections.front().name));
      return;
    }
    if (section == nullptr || section->any_key) {
      return; // reported at its header, or keys are data here
    }
    const auto key = line.name;
    for (auto k : section->keys) {
      if (k == key) {
        return;
      }
    }
    warnings.push_back(fmt::format("{}:{}: unknown key {}{}{}", path, line_no, key,
                                   section_name == "main" ? "" : " in [" + section_name + "]",
                                   didYouMean(nearest(key, section->keys))));
  });
  return warnings;
}

std::vector<std::string> checkUnknownKeys(const Config& config) {
  std::vector<std::string> warnings;
  for (const auto& known : knownIniFiles()) {
    auto path = config.resolve(std::string(known.name));
    if (!path) {
      continue;
    }
    auto bytes = readFileBytes(*path);
    if (!bytes || !bytes->exists) {
      continue;
    }
    for (auto& w : unknownIniKeys(bytes->bytes, path->string(), known)) {
      warnings.push_back(std::move(w));
    }
  }
  return warnings;
}

} // namespace upesi::config
