// Parser for Haraka's ini dialect (haraka-config): implicit [main] section, `key[]=` arrays,
// trailing-backslash continuations, whole-line `;`/`#` comments, integers and floats coerced,
// booleans coerced only where the reader declared them. Every error names file and line.
#pragma once

#include "common/util/result.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace upesi::config {

/// Boolean declarations as haraka-config takes them: "+main.tls" (default true),
/// "-main.tls" or "main.tls" (default false), "*.enabled" (any section, no default).
struct BooleanDecl {
  std::string section; // "*" for any section
  std::string key;
  bool default_value = false;
  bool has_default = true;
};

std::vector<BooleanDecl> parseBooleanDecls(const std::vector<std::string>& specs);

/// Parse ini text into {section: {key: value}}. Declared booleans present in the text are
/// coerced; their defaults are not filled in (see applyBooleanDefaults) so that a defaults file
/// and an override file can be merged first.
Result<nlohmann::json> parseIni(std::string_view text, std::string_view filename,
                                const std::vector<BooleanDecl>& booleans);

/// Fill in the defaults of declared booleans that no file set.
void applyBooleanDefaults(nlohmann::json& ini, const std::vector<BooleanDecl>& booleans);

/// A value as haraka-config coerces it: an integer, a float (also for an integer past int64), or
/// the text as it is (also for a number past a double's range).
nlohmann::json coerceNumber(std::string_view value);

/// Haraka's truth values: true|yes|ok|enabled|on|1, case-insensitive.
bool isTruthy(std::string_view value);

} // namespace upesi::config
