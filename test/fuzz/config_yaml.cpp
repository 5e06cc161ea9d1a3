// A *.yaml config file (common/config/formats, ConfigType::Yaml): yaml-cpp's parser, then our
// conversion to JSON with Haraka's coercions.
//
// Input: the file.
//
// Invariants: the reader returns a value or an error naming the file, never throws or recurses
// without end (aliases can make a YAML graph cyclic or exponentially large); a value written
// back as YAML (strings quoted, so they stay strings) reads back equal, floats aside.
#include "common/config/formats.hpp"
#include "common/config/text_checks.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <yaml-cpp/yaml.h>

using namespace upesi::config;
using Json = nlohmann::json;

namespace {

// yaml-cpp reads a Unicode noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) in a plain scalar
// as it is, but in a double-quoted one as U+FFFD: the text written back says U+FFFD already.
std::string noncharactersReplaced(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    std::uint32_t code = length == 1 ? lead : lead & (0x7F >> length);
    for (std::size_t k = 1; k < length && i + k < text.size(); ++k) {
      code = code << 6 | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    }
    if ((code >= 0xFDD0 && code <= 0xFDEF) || (code & 0xFFFE) == 0xFFFE) {
      out += "\xEF\xBF\xBD";
    } else {
      out.append(text, i, length);
    }
    i += length;
  }
  return out;
}

// What a written-back file should read as: floats dropped (they have no spelling the YAML
// reader and JSON agree on), noncharacters replaced.
Json writable(const Json& value) {
  if (value.is_number_float()) {
    return nullptr;
  }
  if (value.is_string()) {
    return noncharactersReplaced(value.get<std::string>());
  }
  if (value.is_object()) {
    Json out = Json::object();
    for (const auto& [key, member] : value.items()) {
      out[noncharactersReplaced(key)] = writable(member);
    }
    return out;
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& element : value) {
      out.push_back(writable(element));
    }
    return out;
  }
  return value;
}

void emit(YAML::Emitter& out, const Json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, member] : value.items()) {
      out << YAML::Key << YAML::DoubleQuoted << key << YAML::Value;
      emit(out, member);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& element : value) {
      emit(out, element);
    }
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    out << YAML::DoubleQuoted << value.get<std::string>();
  } else if (value.is_boolean()) {
    out << value.get<bool>();
  } else if (value.is_number_integer()) {
    out << value.get<std::int64_t>();
  } else {
    out << YAML::Null;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = upesi::fuzz::asView(data, size);
  auto parsed = parseConfig(ConfigType::Yaml, text, "fuzz.yaml");
  if (!parsed) {
    FUZZ_CHECK(parsed.error().starts_with("fuzz.yaml:"));
    return 0;
  }
  const Json expected = writable(*parsed);
  YAML::Emitter out;
  emit(out, expected);
  FUZZ_CHECK(out.good());
  if (!isValidUtf8(std::string_view(out.c_str(), out.size()))) {
    return 0; // an escape ("\ud800") gave a string that is not UTF-8: nothing to write back
  }
  auto again =
      parseConfig(ConfigType::Yaml, std::string_view(out.c_str(), out.size()), "again.yaml");
  FUZZ_CHECK(again.ok());
  if (expected.is_null()) {
    FUZZ_CHECK(again->is_null() || *again == Json::object()); // an empty document reads as {}
    return 0;
  }
  FUZZ_CHECK(*again == expected);
  return 0;
}
