// A *.json config file (common/config/formats, ConfigType::Json).
//
// Input: the file.
//
// Invariants: the reader returns a value or an error that names the file, never throws; it
// accepts what a JSON parser accepts (whitespace-only counts as {}) but for nesting past its
// limit; a value written back (dump) reads back equal; merging it over itself changes nothing.
#include "common/config/formats.hpp"
#include "test/fuzz/fuzz_check.hpp"

using namespace upesi::config;
using Json = nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = upesi::fuzz::asView(data, size);
  auto parsed = parseConfig(ConfigType::Json, text, "fuzz.json");
  const bool blank = text.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
  if (!parsed) {
    FUZZ_CHECK(parsed.error().starts_with("fuzz.json:"));
    FUZZ_CHECK(!blank);
    FUZZ_CHECK(!Json::accept(text) ||
               parsed.error().find("nested deeper than") != std::string::npos);
    return 0;
  }
  FUZZ_CHECK(blank || Json::accept(text));
  const Json& value = *parsed;
  const std::string dumped = value.dump();
  auto again = parseConfig(ConfigType::Json, dumped, "again.json");
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == value);

  Json merged = value;
  deepMerge(merged, value);
  FUZZ_CHECK(merged == value);
  return 0;
}
