#include "common/metrics/labels.hpp"

#include <doctest/doctest.h>

using namespace upesi::metrics;

TEST_CASE("metric labels: values escaped as the exposition format wants") {
  CHECK(escapeLabelValue("relay") == "relay");
  CHECK(escapeLabelValue("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  CHECK(escapeLabelValue("caf\xC3\xA9") == "caf\xC3\xA9");
  CHECK(escapeLabelValue("x\xFFy\xC3") == "x\xEF\xBF\xBDy\xEF\xBF\xBD");
  CHECK(escapeLabelValue("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); // surrogate
  CHECK(labelPair("plugin", "rcpt_to.\"in_host_list\"") ==
        "plugin=\"rcpt_to.\\\"in_host_list\\\"\"");
  CHECK(wellFormedLabels(labelPair("domain", "\"},evil=\"1\n\\") + "," + labelPair("r", "x")));
}

TEST_CASE("metric labels: only well-formed label text is taken as it is") {
  for (const char* good : {"a=\"\"", "a=\"1\",b=\"2\"", "_x9=\"\\\\\\\"\\n\"", "a=\"\xC3\xA9\"",
                           "a=\"with space, and = and }\""}) {
    CAPTURE(good);
    CHECK(wellFormedLabels(good));
  }
  for (const char* bad : {"", "a", "a=1", "a=\"1", "a=\"1\",", "a=\"1\"b=\"2\"", "9a=\"1\"",
                          "a=\"x\"y\"", "a=\"\n\"", "a=\"\\x\"", "a=\"\\\"", "a=\"1\",a=\"2\"",
                          "le=\"1\"", "__name__=\"x\"", "a=\"\xFF\"", "a =\"1\"", "a=\"1\" "}) {
    CAPTURE(bad);
    CHECK_FALSE(wellFormedLabels(bad));
  }
}

TEST_CASE("metric labels: BoundedLabel admits the first N distinct values, the rest are other") {
  BoundedLabel domains(2);
  CHECK(domains.admit("a.example") == "a.example");
  CHECK(domains.admit("a.example") == "a.example");
  CHECK(domains.admit("b.example") == "b.example");
  CHECK(domains.admit("c.example") == "other");
  CHECK(domains.admit("a.example") == "a.example");
  CHECK(domains.admit("b.example") == "b.example");
  BoundedLabel none(0, "rest");
  CHECK(none.admit("x") == "rest");
}
