// The lines of an ini file that name something, for the checks that point at a file and line
// (unknown keys, Haraka's keys read as ours): section headers and keys, in file order. Blank
// lines, comments and the line after one ending in a backslash (its value goes on) are skipped;
// a header is recognised as the parser recognises it.
#pragma once

#include <upesi/text.hpp>

#include "common/config/text_checks.hpp"

#include <cstddef>
#include <string_view>

namespace upesi::config {

struct IniLine {
  std::size_t number;    ///< from 1
  bool header;           ///< "[name]"
  std::string_view name; ///< the section's name, or the key without a trailing "[]"
  std::string_view text; ///< the whole line, trimmed
};

/// Calls visit(const IniLine&) for each header and key line of `text`.
template <typename Visit> void forEachIniLine(std::string_view text, Visit&& visit) {
  bool continued = false; // the previous line ended in a backslash: this one is its value
  forEachLine(text, [&](std::string_view raw, std::size_t number) {
    const auto line = text::trim(raw);
    const bool was_continued = continued;
    continued = !line.empty() && line.back() == '\\';
    if (was_continued || line.empty() || line[0] == ';' || line[0] == '#') {
      return;
    }
    if (line.front() == '[' && line.back() == ']' && line.find(']') == line.size() - 1) {
      visit(IniLine{number, true, text::trim(line.substr(1, line.size() - 2)), line});
      return;
    }
    auto key = text::trim(line.substr(0, line.find('=')));
    if (key.size() > 2 && key.ends_with("[]")) {
      key.remove_suffix(2);
    }
    visit(IniLine{number, false, key, line});
  });
}

} // namespace upesi::config
