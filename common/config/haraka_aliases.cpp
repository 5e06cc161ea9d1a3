#include "common/config/haraka_aliases.hpp"

#include "common/config/ini_lines.hpp"
#include "common/config/ini_locate.hpp"
#include "common/config/ini_parser.hpp"
#include "common/config/text_checks.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <optional>
#include <set>
#include <string_view>

namespace upesi::config {
namespace {

// A key of Haraka 3's connection.ini and what stands for it here: our smtp.ini key, or (when
// `our_key` is empty) why it is ignored.
struct ConnectionIniKey {
  std::string_view section;
  std::string_view key;
  std::string_view our_key;
  std::string_view why_ignored;
};

constexpr std::string_view NoEquivalent = "it has no equivalent here";

const ConnectionIniKey ConnectionIniKeys[] = {
    {"main", "spool_dir", "spool_dir", {}},
    {"main", "spool_after", "spool_after", {}},
    {"main", "strict_rfc1869", {}, NoEquivalent},
    {"main", "smtputf8", {}, "SMTPUTF8 is always offered"},
    {"main", "postel", {}, NoEquivalent},
    {"headers", "add_received", {}, "a Received header is always added"},
    {"headers", "clean_auth_results", {}, NoEquivalent},
    {"headers", "show_version", {}, "no version is shown"},
    {"headers", "max_lines", {}, NoEquivalent},
    {"headers", "max_received", "max_received_headers", {}},
    {"max", "bytes", "max_message_size", {}},
    {"max", "line_length", "max_line_length", {}},
    {"max", "data_line_length", "max_data_line_length", {}},
    {"max", "mime_parts", {}, NoEquivalent},
    {"message", "greeting", "greeting", {}},
    {"message", "helo", "helo_message", {}},
    {"message", "close", "close_message", {}},
    {"uuid", "banner_chars", {}, NoEquivalent},
    {"uuid", "deny_chars", {}, NoEquivalent},
};

const ConnectionIniKey* findConnectionIniKey(std::string_view section, std::string_view key) {
  for (const auto& k : ConnectionIniKeys) {
    if (k.section == section && k.key == key) {
      return &k;
    }
  }
  return nullptr;
}

// Nothing set: "key=" or "hosts[] =" (Haraka's shipped connection.ini has the latter).
bool isEmpty(const nlohmann::json& value) {
  if (value.is_null() || (value.is_string() && value.get_ref<const std::string&>().empty())) {
    return true;
  }
  if (value.is_array()) {
    for (const auto& v : value) {
      if (!isEmpty(v)) {
        return false;
      }
    }
    return true;
  }
  return false;
}

struct KeyLine {
  std::string section;
  std::string key;
  std::size_t line;
};

// The keys of ini `text` in file order, each once, at its first line.
std::vector<KeyLine> keysInOrder(std::string_view text) {
  std::vector<KeyLine> out;
  std::set<std::pair<std::string, std::string>> seen;
  std::string section = "main";
  forEachIniLine(text, [&](const IniLine& line) {
    if (line.header) {
      section = std::string(line.name);
    } else if (seen.emplace(section, std::string(line.name)).second) {
      out.push_back({section, std::string(line.name), line.number});
    }
  });
  return out;
}

// A config file's path and text; no text when the file is absent.
struct PresentFile {
  std::filesystem::path path;
  std::optional<std::string> text;
};

Result<PresentFile> readIfPresent(const Config& config, const std::string& file) {
  auto path = config.resolve(file);
  if (!path) {
    return Error{path.error()};
  }
  auto bytes = readFileBytes(*path);
  if (!bytes) {
    return Error{bytes.error()};
  }
  PresentFile out{*path, std::nullopt};
  if (bytes->exists) {
    out.text = std::move(bytes->bytes);
  }
  return out;
}

// The [main] section of the install's own `name` (not the shipped defaults), as far as it
// parses: its reader reports a file that does not.
nlohmann::json installMain(const Config& config, const std::string& name) {
  auto file = readIfPresent(config, name);
  if (!file || !file->text) {
    return nlohmann::json::object();
  }
  auto ini = parseIni(*file->text, file->path.string(), {});
  if (!ini || !ini->contains("main")) {
    return nlohmann::json::object();
  }
  return (*ini)["main"];
}

Result<std::monostate> readConnectionIni(Config& config, HarakaAliases& out) {
  auto file_read = readIfPresent(config, "connection.ini");
  if (!file_read) {
    return Error{file_read.error()};
  }
  if (!file_read->text) {
    return std::monostate{};
  }
  const auto& path = file_read->path;
  const std::string& text = *file_read->text;
  auto ini = config.get("connection.ini", ConfigType::Ini);
  if (!ini) {
    return Error{ini.error()};
  }
  const auto ours = installMain(config, "smtp.ini");
  for (const auto& [section, key, line] : keysInOrder(text)) {
    const auto* known = findConnectionIniKey(section, key);
    if (known == nullptr) {
      continue; // not Haraka's: --check names it as an unknown key
    }
    const auto& value = (*ini)[section][key];
    if (isEmpty(value)) {
      continue;
    }
    const auto at = fmt::format("{}:{}", path.string(), line);
    const auto name = fmt::format("[{}] {}", section, key);
    if (known->our_key.empty()) {
      out.notices.push_back(fmt::format("{}: {} is ignored: {}", at, name, known->why_ignored));
      continue;
    }
    const std::string our_key(known->our_key);
    if (ours.contains(our_key)) {
      out.notices.push_back(
          fmt::format("{}: {} is ignored: smtp.ini [main] {} sets it", at, name, our_key));
      continue;
    }
    out.notices.push_back(
        fmt::format("{}: {} is read as smtp.ini [main] {}; move it there", at, name, our_key));
    out.smtp[our_key] = AliasedValue{
        value, iniKeyLocation(config, "connection.ini", std::string(section), key), name};
  }
  return std::monostate{};
}

// Haraka's flat files loglevel and log_timestamps: one value on the first line that is not
// empty or a comment.
Result<std::monostate> readFlatLogFile(Config& config, const std::string& file,
                                       const std::string& our_key, const nlohmann::json& ours,
                                       HarakaAliases& out) {
  auto file_read = readIfPresent(config, file);
  if (!file_read) {
    return Error{file_read.error()};
  }
  if (!file_read->text) {
    return std::monostate{};
  }
  const auto& path = file_read->path;
  const std::string& text = *file_read->text;
  auto value = config.get(file, ConfigType::Value);
  if (!value) {
    return Error{value.error()};
  }
  if (value->is_null()) {
    return std::monostate{};
  }
  std::size_t line = 0;
  forEachLine(text, [&](std::string_view raw, std::size_t line_no) {
    auto t = text::trim(raw);
    if (line == 0 && !t.empty() && t[0] != '#') {
      line = line_no;
    }
  });
  const auto at = fmt::format("{}:{}", path.string(), line);
  if (ours.contains(our_key)) {
    out.notices.push_back(
        fmt::format("{}: {} is ignored: log.ini [main] {} sets it", at, file, our_key));
    return std::monostate{};
  }
  out.notices.push_back(
      fmt::format("{}: {} is read as log.ini [main] {}; move it there", at, file, our_key));
  out.log[our_key] = AliasedValue{*value, at, file};
  return std::monostate{};
}

} // namespace

Result<HarakaAliases> readHarakaAliases(Config& config) {
  HarakaAliases out;
  if (auto r = readConnectionIni(config, out); !r) {
    return Error{r.error()};
  }
  const auto log_ini = installMain(config, "log.ini");
  if (auto r = readFlatLogFile(config, "loglevel", "level", log_ini, out); !r) {
    return Error{r.error()};
  }
  if (auto r = readFlatLogFile(config, "log_timestamps", "timestamps", log_ini, out); !r) {
    return Error{r.error()};
  }
  return out;
}

} // namespace upesi::config
