// The flat config formats (common/config/formats): value (the first line that is not a
// comment, coerced like an ini value), list (lines, trimmed, without comments and blanks), data
// (every line as it is) and binary.
//
// Input: one byte choosing the format, then the file.
//
// Invariants: an error names the file and a line; a list or data file written back one entry a
// line reads back equal; a value written back reads back equal (floats aside); binary is the
// bytes.
#include "common/config/formats.hpp"
#include "test/fuzz/fuzz_check.hpp"

using namespace upesi::config;
using Json = nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  constexpr ConfigType Types[] = {ConfigType::Value, ConfigType::List, ConfigType::Data,
                                  ConfigType::Binary};
  const ConfigType type = Types[data[0] % 4];
  const std::string_view text = upesi::fuzz::asView(data + 1, size - 1);
  auto parsed = parseConfig(type, text, "fuzz");
  if (!parsed) {
    FUZZ_CHECK(parsed.error().starts_with("fuzz:"));
    FUZZ_CHECK(type != ConfigType::Binary);
    return 0;
  }
  const Json& value = *parsed;
  std::string written;
  switch (type) {
  case ConfigType::Binary: {
    FUZZ_CHECK(value.is_binary());
    const auto& bytes = value.get_binary();
    FUZZ_CHECK(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()) == text);
    return 0;
  }
  case ConfigType::List:
  case ConfigType::Data:
    FUZZ_CHECK(value.is_array());
    for (const auto& line : value) {
      FUZZ_CHECK(line.is_string());
      const auto& s = line.get_ref<const std::string&>();
      FUZZ_CHECK(s.find_first_of("\r\n") == std::string::npos);
      if (type == ConfigType::List) {
        FUZZ_CHECK(!s.empty() && s.front() != '#');
      }
      written += s;
      written += '\n';
    }
    break;
  case ConfigType::Value:
    if (value.is_null() || value.is_number_float()) {
      return 0;
    }
    FUZZ_CHECK(value.is_string() || value.is_number_integer());
    written = value.is_string() ? value.get<std::string>() : value.dump();
    FUZZ_CHECK(written.find_first_of("\r\n") == std::string::npos);
    break;
  default:
    FUZZ_CHECK(false);
  }
  auto again = parseConfig(type, written, "again");
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == value);
  return 0;
}
