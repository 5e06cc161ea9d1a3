#include "common/config/formats.hpp"

#include "common/config/text_checks.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

namespace upesi::config {
namespace {

std::size_t lineOfOffset(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<std::size_t>(std::count(
                 text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

// Walks the lines of a flat file, failing on the first line that is not text.
template <typename Fn>
std::optional<Error> eachTextLine(std::string_view bytes, std::string_view filename, Fn&& fn) {
  std::optional<Error> error;
  forEachLine(bytes, [&](std::string_view line, std::size_t line_no) {
    if (error) {
      return;
    }
    if (auto bad = checkTextLine(line)) {
      error = Error{fmt::format("{}:{}: {}", filename, line_no, *bad)};
      return;
    }
    fn(line);
  });
  return error;
}

// Readers copy and merge what they read, recursively: a file nested deeper than any config
// (a few hundred kB of "[" is a few hundred thousand levels) is an error, not a stack overflow.
constexpr int MaxNesting = 512;

// Aliases make a YAML document a graph, not a tree: a node may be named again inside itself (a
// cycle) or many times over (a small file that expands without bound). The conversion is
// bounded in depth and in nodes, and going past either is an error at that node.
struct YamlBudget {
  std::size_t nodes = 0; // still allowed
  int depth = 0;
};

// yaml-cpp 0.7 decodes the escapes \N and \_ to the single bytes 0x85 and 0xA0, not to
// UTF-8. The file was checked to be UTF-8 and every other escape comes out as UTF-8, so such a
// byte where no UTF-8 sequence can hold it is one of those two characters.
std::string yamlScalarAsUtf8(const std::string& scalar) {
  if (isValidUtf8(scalar)) {
    return scalar;
  }
  std::string out;
  out.reserve(scalar.size() + 8);
  for (std::size_t i = 0; i < scalar.size();) {
    const auto lead = static_cast<unsigned char>(scalar[i]);
    const std::size_t length = lead < 0x80   ? 1
                               : lead < 0xC0 ? 0
                               : lead < 0xE0 ? 2
                               : lead < 0xF0 ? 3
                                             : 4;
    if (length == 0 || i + length > scalar.size() ||
        !isValidUtf8(std::string_view(scalar).substr(i, length))) {
      out += static_cast<char>(0xC0 | lead >> 6); // a lone byte of the 0x80..0xFF range
      out += static_cast<char>(0x80 | (lead & 0x3F));
      ++i;
      continue;
    }
    out.append(scalar, i, length);
    i += length;
  }
  return out;
}

nlohmann::json yamlToJson(const YAML::Node& node, YamlBudget& budget) {
  if (budget.depth >= MaxNesting) {
    throw YAML::Exception(node.Mark(), "nested too deeply (an alias inside the node it names?)");
  }
  if (budget.nodes == 0) {
    throw YAML::Exception(node.Mark(), "aliases expand to too many nodes");
  }
  --budget.nodes;
  switch (node.Type()) {
  case YAML::NodeType::Null:
  case YAML::NodeType::Undefined:
    return nullptr;
  case YAML::NodeType::Sequence: {
    auto arr = nlohmann::json::array();
    ++budget.depth;
    for (const auto& item : node) {
      arr.push_back(yamlToJson(item, budget));
    }
    --budget.depth;
    return arr;
  }
  case YAML::NodeType::Map: {
    auto obj = nlohmann::json::object();
    ++budget.depth;
    for (const auto& kv : node) {
      obj[yamlScalarAsUtf8(kv.first.as<std::string>())] = yamlToJson(kv.second, budget);
    }
    --budget.depth;
    return obj;
  }
  case YAML::NodeType::Scalar:
    break;
  }
  const std::string s = yamlScalarAsUtf8(node.Scalar());
  if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") {
    return s; // quoted: stays a string
  }
  if (s == "true" || s == "True" || s == "TRUE") {
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    return false;
  }
  if (s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return nullptr;
  }
  return coerceNumber(s);
}

} // namespace

std::string_view toString(ConfigType type) {
  switch (type) {
  case ConfigType::Value:
    return "value";
  case ConfigType::List:
    return "list";
  case ConfigType::Data:
    return "data";
  case ConfigType::Ini:
    return "ini";
  case ConfigType::Json:
    return "json";
  case ConfigType::Yaml:
    return "yaml";
  case ConfigType::Binary:
    return "binary";
  }
  return "value";
}

std::optional<ConfigType> configTypeFromString(std::string_view name) {
  for (auto t : {ConfigType::Value, ConfigType::List, ConfigType::Data, ConfigType::Ini,
                 ConfigType::Json, ConfigType::Yaml, ConfigType::Binary}) {
    if (toString(t) == name) {
      return t;
    }
  }
  return std::nullopt;
}

ConfigType inferConfigType(std::string_view name) {
  if (name.ends_with(".ini")) {
    return ConfigType::Ini;
  }
  if (name.ends_with(".json")) {
    return ConfigType::Json;
  }
  if (name.ends_with(".yaml") || name.ends_with(".yml")) {
    return ConfigType::Yaml;
  }
  return ConfigType::Value;
}

nlohmann::json emptyConfig(ConfigType type) {
  switch (type) {
  case ConfigType::Value:
    return nullptr;
  case ConfigType::List:
  case ConfigType::Data:
    return nlohmann::json::array();
  case ConfigType::Ini:
    return nlohmann::json{{"main", nlohmann::json::object()}};
  case ConfigType::Json:
  case ConfigType::Yaml:
    return nlohmann::json::object();
  case ConfigType::Binary:
    return nlohmann::json::binary({});
  }
  return nullptr;
}

void deepMerge(nlohmann::json& base, const nlohmann::json& override_value) {
  if (!base.is_object() || !override_value.is_object()) {
    base = override_value;
    return;
  }
  for (const auto& [key, value] : override_value.items()) {
    if (base.contains(key)) {
      deepMerge(base[key], value);
    } else {
      base[key] = value;
    }
  }
}

Result<nlohmann::json> parseConfig(ConfigType type, std::string_view bytes,
                                   std::string_view filename,
                                   const std::vector<BooleanDecl>& booleans) {
  if (bytes.size() > MaxConfigFileBytes) {
    return Error{fmt::format("{}: file is larger than {} bytes", filename, MaxConfigFileBytes)};
  }
  switch (type) {
  case ConfigType::Binary: {
    nlohmann::json::binary_t bin(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
    return nlohmann::json::binary(std::move(bin));
  }
  case ConfigType::Ini:
    return parseIni(bytes, filename, booleans);
  case ConfigType::Value: {
    nlohmann::json value = nullptr;
    auto error = eachTextLine(bytes, filename, [&](std::string_view line) {
      std::string_view t = text::trim(line);
      if (value.is_null() && !t.empty() && t[0] != '#') {
        value = coerceNumber(t);
      }
    });
    if (error) {
      return *error;
    }
    return value;
  }
  case ConfigType::List:
  case ConfigType::Data: {
    auto arr = nlohmann::json::array();
    bool keep_all = type == ConfigType::Data;
    auto error = eachTextLine(bytes, filename, [&](std::string_view line) {
      if (keep_all) {
        arr.push_back(std::string(line));
        return;
      }
      std::string_view t = text::trim(line);
      if (!t.empty() && t[0] != '#') {
        arr.push_back(std::string(t));
      }
    });
    if (error) {
      return *error;
    }
    return arr;
  }
  case ConfigType::Json: {
    if (text::trim(bytes).empty()) {
      return nlohmann::json::object();
    }
    try {
      bool too_deep = false;
      auto value = nlohmann::json::parse(
          bytes, [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
            too_deep = too_deep || depth > MaxNesting;
            return !too_deep;
          });
      if (too_deep) {
        return Error{fmt::format("{}: nested deeper than {} levels", filename, MaxNesting)};
      }
      return value;
    } catch (const nlohmann::json::parse_error& e) {
      std::string what = e.what();
      if (auto pos = what.find("parse error"); pos != std::string::npos) {
        what = what.substr(pos);
      }
      return Error{fmt::format("{}:{}: {}", filename, lineOfOffset(bytes, e.byte), what)};
    } catch (const nlohmann::json::exception& e) {
      // out_of_range.406, a number past a double's range: no position comes with it.
      return Error{fmt::format("{}: {}", filename, e.what())};
    }
  }
  case ConfigType::Yaml: {
    if (bytes.find('\0') != std::string_view::npos) {
      return Error{fmt::format("{}:{}: NUL byte in a text file", filename,
                               lineOfOffset(bytes, bytes.find('\0')))};
    }
    if (!isValidUtf8(bytes)) {
      return Error{fmt::format("{}: invalid UTF-8", filename)};
    }
    try {
      YAML::Node root = YAML::Load(std::string(bytes));
      if (root.IsNull()) {
        return nlohmann::json::object();
      }
      // Real configs are far below this; only aliases can go past it.
      YamlBudget budget{.nodes = 100000 + 10 * bytes.size()};
      return yamlToJson(root, budget);
    } catch (const YAML::Exception& e) {
      return Error{fmt::format("{}:{}: {}", filename, e.mark.line + 1, e.msg)};
    }
  }
  }
  return Error{fmt::format("{}: unknown config type", filename)};
}

} // namespace upesi::config
