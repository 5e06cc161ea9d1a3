#include "common/config/ini_parser.hpp"

#include "common/config/text_checks.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace upesi::config {
namespace {

// haraka-config's key class: [\w@:._+\-/[\]]
bool isKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '@' || c == ':' ||
         c == '.' || c == '+' || c == '-' || c == '/' || c == '[' || c == ']';
}

bool isInteger(std::string_view v) {
  std::size_t i = (!v.empty() && v[0] == '-') ? 1 : 0;
  return i < v.size() && std::all_of(v.begin() + static_cast<std::ptrdiff_t>(i), v.end(),
                                     [](char c) { return c >= '0' && c <= '9'; });
}

bool isFloat(std::string_view v) {
  auto dot = v.find('.');
  return dot != std::string_view::npos && dot + 1 < v.size() && isInteger(v.substr(0, dot)) &&
         isInteger(v.substr(dot + 1)) && v[dot + 1] != '-';
}

bool isDeclaredBoolean(const std::vector<BooleanDecl>& booleans, std::string_view section,
                       std::string_view key) {
  return std::any_of(booleans.begin(), booleans.end(), [&](const BooleanDecl& b) {
    return b.key == key && (b.section == "*" || b.section == section);
  });
}

} // namespace

nlohmann::json coerceNumber(std::string_view v) {
  if (!isInteger(v) && !isFloat(v)) {
    return std::string(v);
  }
  if (isInteger(v)) {
    long long n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec == std::errc() && ptr == v.data() + v.size()) {
      return n;
    }
  }
  // A float, or an integer out of int64 range (a float, as JavaScript would). Past a double's
  // range it stays text: from_chars reports that where std::stod threw.
  double d = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec == std::errc() && ptr == v.data() + v.size()) {
    return d;
  }
  return std::string(v);
}

bool isTruthy(std::string_view value) {
  return text::isTruthy(value);
}

std::vector<BooleanDecl> parseBooleanDecls(const std::vector<std::string>& specs) {
  std::vector<BooleanDecl> out;
  for (std::string_view spec : specs) {
    BooleanDecl decl;
    if (!spec.empty() && (spec[0] == '+' || spec[0] == '-')) {
      decl.default_value = spec[0] == '+';
      spec.remove_prefix(1);
    }
    auto dot = spec.find('.');
    if (dot == std::string_view::npos) {
      decl.section = "main";
      decl.key = std::string(spec);
    } else {
      decl.section = std::string(spec.substr(0, dot));
      decl.key = std::string(spec.substr(dot + 1));
    }
    decl.has_default = decl.section != "*";
    out.push_back(std::move(decl));
  }
  return out;
}

void applyBooleanDefaults(nlohmann::json& ini, const std::vector<BooleanDecl>& booleans) {
  for (const auto& b : booleans) {
    if (!b.has_default) {
      continue;
    }
    auto& section = ini[b.section];
    if (!section.is_object()) {
      section = nlohmann::json::object();
    }
    if (!section.contains(b.key)) {
      section[b.key] = b.default_value;
    }
  }
}

Result<nlohmann::json> parseIni(std::string_view text, std::string_view filename,
                                const std::vector<BooleanDecl>& booleans) {
  nlohmann::json result = nlohmann::json::object();
  result["main"] = nlohmann::json::object();
  std::string section_name = "main";
  std::string pending; // a line continued with a trailing backslash
  std::size_t pending_from = 0;
  std::optional<Error> error;

  auto fail = [&](std::size_t line_no, std::string_view what) {
    if (!error) {
      error = Error{fmt::format("{}:{}: {}", filename, line_no, what)};
    }
  };

  auto handleLine = [&](std::string_view raw, std::size_t line_no) {
    std::string_view line = text::trim(raw);
    if (line.empty() || line[0] == ';' || line[0] == '#') {
      return;
    }
    if (line.front() == '[' && line.back() == ']' && line.find(']') == line.size() - 1) {
      section_name = std::string(text::trim(line.substr(1, line.size() - 2)));
      if (!result.contains(section_name) || !result[section_name].is_object()) {
        result[section_name] = nlohmann::json::object();
      }
      return;
    }
    auto eq = line.find('=');
    std::string_view key = text::trim(line.substr(0, eq));
    if (key.empty() || !std::all_of(key.begin(), key.end(), isKeyChar)) {
      fail(line_no, fmt::format("not a [section] or key=value line: \"{}\"",
                                line.substr(0, std::min<std::size_t>(line.size(), 80))));
      return;
    }
    bool is_array = key.size() > 2 && key.ends_with("[]");
    if (is_array) {
      key.remove_suffix(2);
    }
    auto& section = result[section_name];
    const std::string key_str(key);
    if (eq == std::string_view::npos) {
      // A bare key: a list entry such as [no_tls_hosts] 10.0.0.0/8.
      if (isDeclaredBoolean(booleans, section_name, key)) {
        section[key_str] = false;
      } else if (is_array) {
        section[key_str] = nlohmann::json::array();
      } else {
        section[key_str] = nullptr;
      }
      return;
    }
    std::string_view value = text::trim(line.substr(eq + 1));
    nlohmann::json parsed = isDeclaredBoolean(booleans, section_name, key)
                                ? nlohmann::json(isTruthy(value))
                                : coerceNumber(value);
    if (is_array) {
      auto& arr = section[key_str];
      if (!arr.is_array()) {
        arr = nlohmann::json::array();
      }
      arr.push_back(std::move(parsed));
    } else {
      section[key_str] = std::move(parsed);
    }
  };

  forEachLine(text, [&](std::string_view line, std::size_t line_no) {
    if (error) {
      return;
    }
    if (auto bad = checkTextLine(line)) {
      fail(line_no, *bad);
      return;
    }
    std::string_view content = line;
    while (!content.empty() && (content.back() == ' ' || content.back() == '\t')) {
      content.remove_suffix(1);
    }
    if (!content.empty() && content.back() == '\\') {
      if (pending.empty()) {
        pending_from = line_no;
      }
      content.remove_suffix(1);
      pending.append(content);
      return;
    }
    if (!pending.empty()) {
      pending.append(line);
      handleLine(pending, pending_from);
      pending.clear();
      return;
    }
    handleLine(line, line_no);
  });
  if (!error && !pending.empty()) {
    handleLine(pending, pending_from);
  }
  if (error) {
    return *error;
  }
  return result;
}

} // namespace upesi::config
