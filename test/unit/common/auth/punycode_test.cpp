#include "common/auth/punycode.hpp"

#include <doctest/doctest.h>

#include <string>

using upesi::auth::punycodeEncode;
using upesi::auth::toALabels;

TEST_CASE("punycode: the sample strings of RFC 3492 section 7.1") {
  // (B) Chinese (simplified)
  CHECK(*punycodeEncode("\xe4\xbb\x96\xe4\xbb\xac\xe4\xb8\xba\xe4\xbb\x80\xe4\xb9\x88\xe4\xb8\x8d"
                        "\xe8\xaf\xb4\xe4\xb8\xad\xe6\x96\x87") == "ihqwcrb4cv8a8dqg056pqjye");
  // (L) 3<nen>B<gumi><kinpachi><sensei>: basic code points keep their case
  CHECK(*punycodeEncode("3\xe5\xb9\xb4"
                        "B\xe7\xb5\x84\xe9\x87\x91\xe5\x85\xab\xe5\x85\x88\xe7\x94"
                        "\x9f") == "3B-ww4c5e180e575a65lsy2b");
  // (S) -> $1.00 <-: all basic, so the delimiter follows them
  CHECK(*punycodeEncode("-> $1.00 <-") == "-> $1.00 <--");
}

TEST_CASE("punycode: the labels of the Public Suffix List tests and common words") {
  CHECK(*punycodeEncode("\xe9\xa3\x9f\xe7\x8b\xae") == "85x722f"); // 食狮
  CHECK(*punycodeEncode("\xe5\x85\xac\xe5\x8f\xb8") == "55qx5d");  // 公司
  CHECK(*punycodeEncode("\xe4\xb8\xad\xe5\x9b\xbd") == "fiqs8s");  // 中国
  CHECK(*punycodeEncode("b\xc3\xbc"
                        "cher") == "bcher-kva"); // bücher
  CHECK(*punycodeEncode("m\xc3\xbc"
                        "nchen") == "mnchen-3ya"); // münchen
  CHECK(*punycodeEncode("") == "");
}

TEST_CASE("punycode: domains to A-labels") {
  CHECK(*toALabels("www.\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn") ==
        "www.xn--85x722f.xn--55qx5d.cn");
  CHECK(*toALabels("Example.COM") == "example.com");
  CHECK(*toALabels("M\xc3\xbc"
                   "nchen.DE") == "xn--mnchen-3ya.de"); // ASCII lower-cased first
  CHECK(*toALabels("") == "");
  CHECK(*toALabels("a..b") == "a..b"); // labels are converted, not checked
}

TEST_CASE("punycode: hostile input") {
  CHECK_FALSE(punycodeEncode("\xff"));
  CHECK_FALSE(punycodeEncode("\xc3"));         // truncated
  CHECK_FALSE(punycodeEncode("\xed\xa0\x80")); // a surrogate
  CHECK_FALSE(punycodeEncode("\xc0\xaf"));     // overlong
  CHECK_FALSE(toALabels("ok.\xe4\xb8.com"));
  // Its A-label would pass 63 bytes: 56 basic code points, '-', 'xn--' and more.
  CHECK_FALSE(toALabels(std::string(56, 'a') + "\xc3\xa9.fr"));
  CHECK(*toALabels(std::string(50, 'a') + "\xc3\xa9.fr") ==
        "xn--" + std::string(50, 'a') + "-poe.fr");
  // 5000 basic code points then U+10FFFF: the first delta passes 2^32 (section 6.4).
  CHECK_FALSE(punycodeEncode(std::string(5000, 'a') + "\xf4\x8f\xbf\xbf"));
  CHECK(punycodeEncode(std::string(1000, 'a') + "\xf4\x8f\xbf\xbf").has_value());
}
