#include "common/util/utf8_validator.hpp"

#include <doctest/doctest.h>

#include <string>

using upesi::Utf8Validator;

namespace {

// Fed whole and split at every position: the answers must agree.
bool valid(std::string_view text) {
  Utf8Validator whole;
  const bool answer = whole.feed(text) && whole.complete();
  for (std::size_t split = 0; split <= text.size(); ++split) {
    Utf8Validator pieces;
    pieces.feed(text.substr(0, split));
    pieces.feed(text.substr(split));
    CHECK(pieces.complete() == answer);
  }
  return answer;
}

} // namespace

TEST_CASE("utf8 validator: valid text, whole or split anywhere") {
  CHECK(valid(""));
  CHECK(valid("plain ASCII"));
  CHECK(valid("\xC3\xA9t\xC3\xA9"));                        // été
  CHECK(valid("\xE2\x82\xAC"));                             // €
  CHECK(valid("\xF0\x9F\x93\xA7"));                         // U+1F4E7
  CHECK(valid("\xEF\xBF\xBF\xF4\x8F\xBF\xBF"));             // U+FFFF, U+10FFFF
  CHECK(valid("\xE0\xA0\x80\xED\x9F\xBF\xF0\x90\x80\x80")); // the lowest bounds
}

TEST_CASE("utf8 validator: overlongs, surrogates, past U+10FFFF, stray and cut bytes refused") {
  CHECK_FALSE(valid("\xC0\x80"));         // overlong NUL
  CHECK_FALSE(valid("\xC1\xBF"));         // overlong
  CHECK_FALSE(valid("\xE0\x9F\xBF"));     // overlong 3-byte
  CHECK_FALSE(valid("\xF0\x8F\xBF\xBF")); // overlong 4-byte
  CHECK_FALSE(valid("\xED\xA0\x80"));     // U+D800
  CHECK_FALSE(valid("\xF4\x90\x80\x80")); // U+110000
  CHECK_FALSE(valid("\xF5\x80\x80\x80"));
  CHECK_FALSE(valid("\xFF"));
  CHECK_FALSE(valid("a\x80")); // continuation without a start
  CHECK_FALSE(valid("\xC3"));  // cut short
  CHECK_FALSE(valid("\xE2\x82"));
  CHECK_FALSE(valid("\xC3(")); // a start byte followed by ASCII
}

TEST_CASE("utf8 validator: refuses at the first bad byte, not at the end") {
  Utf8Validator validator;
  CHECK(validator.feed("ok \xC3"));
  CHECK_FALSE(validator.complete()); // inside a character, not failed
  CHECK_FALSE(validator.failed());
  CHECK_FALSE(validator.feed("\xC3"));
  CHECK(validator.failed());
  CHECK_FALSE(validator.feed("fine now")); // failed for good
  validator.reset();
  CHECK(validator.feed("fine now"));
  CHECK(validator.complete());
}
