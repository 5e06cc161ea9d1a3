#include "common/config/unknown_keys.hpp"

#include <doctest/doctest.h>

using upesi::config::knownIniFile;
using upesi::config::unknownIniKeys;
using Warnings = std::vector<std::string>;

TEST_CASE("unknown keys: a typo is named with its line and the key meant") {
  const auto& smtp = *knownIniFile("smtp.ini");
  CHECK(unknownIniKeys("[main]\nnodes=1\nlistne=127.0.0.1:25\n", "smtp.ini", smtp) ==
        Warnings{"smtp.ini:3: unknown key listne (did you mean listen?)"});
  // Keys before any section are [main]'s; arrays, comments and continuations are understood.
  CHECK(unknownIniKeys("; c\n# c\nMax_Errors=3\nsubmission_ports[]=587\nlisten=a,\\\n  b\n",
                       "smtp.ini", smtp) ==
        Warnings{"smtp.ini:3: unknown key Max_Errors (did you mean max_errors?)"});
  // Far from every key: no guess.
  CHECK(unknownIniKeys("colour=blue\n", "smtp.ini", smtp) ==
        Warnings{"smtp.ini:1: unknown key colour"});
  CHECK(unknownIniKeys("[main]\nmin_data_rate_window=30\nipv6_client_prefix=64\npid_file=x\n"
                       "max_output_buffer=4096\nwrite_timeout=1\ncommand_timeout=1\n"
                       "max_data_time=1\nmin_data_rate=1\nallow_nul_in_data=true\n",
                       "smtp.ini", smtp)
            .empty());
}

TEST_CASE("unknown keys: sections, per-section keys and sections whose keys are data") {
  const auto& tls = *knownIniFile("tls.ini");
  CHECK(unknownIniKeys("[outbound]\nfallback_to_plain=false\nforce_tls_hosts=a\n[no_tls_hosts]\n"
                       "192.0.2.0/24\n",
                       "tls.ini", tls)
            .empty());
  CHECK(unknownIniKeys("[main]\nforce_tls_hosts=a\n[outbund]\nkey=x\n", "tls.ini", tls) ==
        Warnings{"tls.ini:2: unknown key force_tls_hosts",
                 "tls.ini:3: unknown section [outbund] (did you mean [outbound]?)"});
  CHECK(unknownIniKeys("[outbound]\nfalback_to_plain=false\n", "tls.ini", tls) ==
        Warnings{"tls.ini:2: unknown key falback_to_plain in [outbound] (did you mean "
                 "fallback_to_plain?)"});
  const auto& relay = *knownIniFile("relay.ini");
  CHECK(unknownIniKeys("acl=true\n[relay]\nal=true\n", "relay.ini", relay) ==
        Warnings{"relay.ini:1: unknown key acl outside a section (this file's keys go in "
                 "[relay])",
                 "relay.ini:3: unknown key al in [relay]"});
  // Any domain section of smtp_forward.ini takes the route keys.
  const auto& forward = *knownIniFile("smtp_forward.ini");
  CHECK(unknownIniKeys("host=a\n[example.com]\nhost=b\nprot=25\n", "f.ini", forward) ==
        Warnings{"f.ini:4: unknown key prot in [example.com] (did you mean port?)"});
  CHECK(knownIniFile("auth_flat_file.ini") == nullptr); // its [users] keys are user names
}
