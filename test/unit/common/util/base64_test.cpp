#include "common/util/base64.hpp"

#include <doctest/doctest.h>

using upesi::base64Decode;
using upesi::base64Encode;

TEST_CASE("base64 encodes the RFC 4648 test vectors") {
  CHECK(base64Encode("") == "");
  CHECK(base64Encode("f") == "Zg==");
  CHECK(base64Encode("fo") == "Zm8=");
  CHECK(base64Encode("foo") == "Zm9v");
  CHECK(base64Encode("foob") == "Zm9vYg==");
  CHECK(base64Encode("fooba") == "Zm9vYmE=");
  CHECK(base64Encode("foobar") == "Zm9vYmFy");
  CHECK(base64Encode(std::string("\0user\0pass", 10)) == "AHVzZXIAcGFzcw==");
}

TEST_CASE("base64 decodes what it encodes, NUL bytes included") {
  for (std::string s : {std::string(""), std::string("f"), std::string("fo"), std::string("foo"),
                        std::string("\0a\0b", 4), std::string("\xff\xfe\x00", 3)}) {
    auto d = base64Decode(base64Encode(s));
    REQUIRE(d.has_value());
    CHECK(*d == s);
  }
}

TEST_CASE("base64 decoding is strict") {
  CHECK_FALSE(base64Decode("Zg").has_value());     // unpadded
  CHECK_FALSE(base64Decode("Zg=").has_value());    // wrong length
  CHECK_FALSE(base64Decode("Z===").has_value());   // too much padding
  CHECK_FALSE(base64Decode("Zg==Zg==").has_value()); // data after padding
  CHECK_FALSE(base64Decode("Zm9v!A==").has_value()); // bad character
  CHECK_FALSE(base64Decode("Zm 9v").has_value());
  CHECK_FALSE(base64Decode("Z=9v").has_value());   // padding in the middle
}
