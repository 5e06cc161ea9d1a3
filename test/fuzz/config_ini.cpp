// Haraka's ini dialect (common/config/ini_parser), as parseConfig reads a *.ini file.
//
// Input: the file. A few booleans are declared, as readers do ("+main.enabled", "*.tls",
// "-relay.allow"), so that coercion is exercised too.
//
// Invariants: an error names the file and a line that exists; a parsed file is an object of
// sections that are objects; written back as ini (sections, key=value, key[]=value, bare keys)
// it parses to the same value (floats aside: the dialect has one spelling for them and JSON
// another); and the boolean defaults fill in only what is missing.
#include "common/config/formats.hpp"
#include "common/config/ini_parser.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <algorithm>
#include <string>

using namespace upesi::config;
using Json = nlohmann::json;

namespace {

const std::vector<BooleanDecl>& booleans() {
  static const auto decls = parseBooleanDecls({"+main.enabled", "*.tls", "-relay.allow", "off"});
  return decls;
}

// One value as ini text, or nothing when the dialect cannot say it back the same way.
std::optional<std::string> valueText(const Json& value) {
  if (value.is_boolean()) {
    return std::string(value.get<bool>() ? "true" : "false");
  }
  if (value.is_number_integer()) {
    return value.dump();
  }
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (!s.empty() && s.back() == '\\') {
      return std::nullopt; // a trailing backslash continues the line
    }
    return s;
  }
  return std::nullopt; // floats
}

// Writes `ini` back as text; `expected` loses what cannot be written back.
std::string writeIni(const Json& ini, Json& expected) {
  std::string out;
  for (const auto& [section, keys] : ini.items()) {
    out += "[" + section + "]\n";
    for (const auto& [key, value] : keys.items()) {
      if (value.is_null()) {
        out += key + "\n";
      } else if (value.is_array()) {
        if (value.empty()) {
          out += key + "[]\n";
        }
        Json kept = Json::array();
        for (const auto& element : value) {
          if (auto text = valueText(element)) {
            out += key + "[]=" + *text + "\n";
            kept.push_back(element);
          }
        }
        if (!value.empty() && kept.empty()) {
          expected[section].erase(key);
        } else {
          expected[section][key] = kept;
        }
      } else if (auto text = valueText(value)) {
        out += key + "=" + *text + "\n";
      } else {
        expected[section].erase(key);
      }
    }
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = upesi::fuzz::asView(data, size);
  auto parsed = parseConfig(ConfigType::Ini, text, "fuzz.ini", booleans());
  if (!parsed) {
    const std::string& error = parsed.error();
    FUZZ_CHECK(error.starts_with("fuzz.ini:"));
    const std::size_t line = std::strtoull(error.c_str() + 9, nullptr, 10);
    const std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n') +
                                                       std::count(text.begin(), text.end(), '\r'));
    FUZZ_CHECK(line >= 1 && line <= lines + 1);
    return 0;
  }
  const Json& ini = *parsed;
  FUZZ_CHECK(ini.is_object() && ini.contains("main"));
  for (const auto& [section, keys] : ini.items()) {
    FUZZ_CHECK(keys.is_object());
    for (const auto& [key, value] : keys.items()) {
      FUZZ_CHECK(!key.empty());
      FUZZ_CHECK(!value.is_object());
    }
  }

  Json expected = ini;
  const std::string written = writeIni(ini, expected);
  auto again = parseIni(written, "again.ini", booleans());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == expected);

  Json with_defaults = ini;
  applyBooleanDefaults(with_defaults, booleans());
  for (const char* key : {"enabled", "off"}) {
    // A declared boolean is a boolean (an array of them when written key[]=), the default when
    // the file did not set it.
    const Json& value = with_defaults["main"][key];
    if (!ini["main"].contains(key)) {
      FUZZ_CHECK(value == (std::string_view(key) == "enabled"));
    } else if (value.is_array()) {
      for (const auto& element : value) {
        FUZZ_CHECK(element.is_boolean());
      }
    } else {
      FUZZ_CHECK(value.is_boolean());
    }
  }
  for (const auto& [section, keys] : ini.items()) {
    for (const auto& [key, value] : keys.items()) {
      FUZZ_CHECK(with_defaults[section][key] == value); // defaults never override
    }
  }
  return 0;
}
