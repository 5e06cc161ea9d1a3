#include "common/util/base64.hpp"

#include <doctest/doctest.h>

#include <string_view>

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
  CHECK_FALSE(base64Decode("Zg").has_value());       // unpadded
  CHECK_FALSE(base64Decode("Zg=").has_value());      // wrong length
  CHECK_FALSE(base64Decode("Z===").has_value());     // too much padding
  CHECK_FALSE(base64Decode("Zg==Zg==").has_value()); // data after padding
  CHECK_FALSE(base64Decode("Zm9v!A==").has_value()); // bad character
  CHECK_FALSE(base64Decode("Zm 9v").has_value());
  CHECK_FALSE(base64Decode("Z=9v").has_value()); // padding in the middle
}

// RFC 4648 section 3.5: the bits padding leaves over may be rejected when not zero; for SASL
// they are (a decoder that takes "QR==" as "QQ==" accepts two spellings of one credential).
TEST_CASE("base64 decoding refuses pad bits that are not zero") {
  CHECK(base64Decode("QQ==") == "A");
  for (const char* bad : {"QR==", "QS==", "QT==", "QZ==", "Qf==", "Q/=="}) {
    CAPTURE(std::string(bad));
    CHECK_FALSE(base64Decode(bad).has_value());
  }
  CHECK(base64Decode("QUI=") == "AB");
  for (const char* bad : {"QUJ=", "QUK=", "QUL=", "QU/="}) {
    CAPTURE(std::string(bad));
    CHECK_FALSE(base64Decode(bad).has_value());
  }
  // The RFC's vectors decode, and a bad last group is refused after good ones too.
  CHECK(base64Decode("Zm9vYg==") == "foob");
  CHECK(base64Decode("Zm9vYmE=") == "fooba");
  CHECK(base64Decode("Zm9vYmFy") == "foobar");
  CHECK_FALSE(base64Decode("Zm9vYh==").has_value());
  CHECK_FALSE(base64Decode("Zm9vYmF=").has_value());
  // Every one-byte value: its canonical text decodes, the 15 others with its first 6 bits do not.
  for (int a = 0; a < 256; ++a) {
    const std::string one(1, static_cast<char>(a));
    const std::string text = base64Encode(one);
    CHECK(base64Decode(text) == one);
    for (int low = 1; low < 16; ++low) {
      std::string tweaked = text;
      const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      const auto index = std::string_view(alphabet).find(text[1]);
      tweaked[1] = alphabet[(index & ~std::size_t{15}) | static_cast<std::size_t>(low)];
      CHECK_FALSE(base64Decode(tweaked).has_value());
    }
  }
}
