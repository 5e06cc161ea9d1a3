#include "common/auth/dkim_key.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace upesi::dkim;

namespace {

// RFC 8463 appendix A.2.
const std::string Ed25519Record =
    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const std::string Rsa1024Record =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
    "iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
    "DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
    "Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
// The same key as a bare RSAPublicKey (PKCS#1): the SubjectPublicKeyInfo without its header.
const std::string Rsa1024Pkcs1Record =
    "p=MIGJAoGBAOQeU5CgFPNZGIazlXo2k/eJ1jpaTTxrmqF1HrDLlt04pvaMtCJj8nXoliLRC/H9vJjMI1vdb3XLcW60"
    "AIN/PBD8EL97/y4GwJH7LPUvGP48vqUe+owqszesbiGy1PlCO8c70/OjFnJVgvMF87YR4Lcincb7aSvI5MgpP6X8"
    "rjDdAgMBAAE=";
// A 512-bit RSA key.
const std::string Rsa512Record =
    "v=DKIM1; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBANBwEP+OO1OdblwnL+oOx8OOe9Y9Q4/W7ORuUzckZiWcyZ5"
    "JFwyCFO7XoGDU6PFprToQQVzIcRFeFsSInJahIzkCAwEAAQ==";

} // namespace

TEST_CASE("dkim key: the records of RFC 8463 appendix A.2 load") {
  const KeyRecordParse ed = parseKeyRecord(Ed25519Record);
  REQUIRE(ed.ok());
  CHECK(ed.record.type == KeyType::Ed25519);
  CHECK(ed.record.public_key.size() == 32);
  const PublicKeyLoad ed_key = loadPublicKey(ed.record);
  CHECK(ed_key.ok());
  CHECK(ed_key.key);

  const KeyRecordParse rsa = parseKeyRecord(Rsa1024Record);
  REQUIRE(rsa.ok());
  CHECK(rsa.record.type == KeyType::Rsa);
  const PublicKeyLoad rsa_key = loadPublicKey(rsa.record);
  CHECK(rsa_key.ok());
  CHECK(rsa_key.bits == 1024);
  CHECK(loadPublicKey(rsa.record, 2048).permerror ==
        "RSA key of 1024 bits, under the minimum 2048");
}

TEST_CASE("dkim key: a bare RSAPublicKey is accepted too") {
  const KeyRecordParse parse = parseKeyRecord(Rsa1024Pkcs1Record);
  REQUIRE(parse.ok());
  const PublicKeyLoad key = loadPublicKey(parse.record);
  CHECK(key.ok());
  CHECK(key.bits == 1024);
}

TEST_CASE("dkim key: RSA under 1024 bits is a permerror (RFC 8301)") {
  const KeyRecordParse parse = parseKeyRecord(Rsa512Record);
  REQUIRE(parse.ok());
  CHECK(loadPublicKey(parse.record).permerror == "RSA key of 512 bits, under the minimum 1024");
}

TEST_CASE("dkim key: tags") {
  auto record = parseKeyRecord("k=rsa; h=sha1:sha256; s=email; t=y:s; n=notes; p=").record;
  CHECK(record.revoked);
  CHECK(record.testing);
  CHECK(record.strict_identity);
  CHECK(record.hashes == std::vector<std::string>{"sha1", "sha256"});
  CHECK(loadPublicKey(record).permerror == "key revoked");
  CHECK(parseKeyRecord("s=*; p=").ok());
  CHECK(parseKeyRecord("t=x:y; p=").record.testing);
  CHECK_FALSE(parseKeyRecord("t=s; p=").record.testing);
}

TEST_CASE("dkim key: errors name what is wrong") {
  CHECK(parseKeyRecord("k=rsa; v=DKIM1; p=").permerror == "key record v= is not the first tag");
  CHECK(parseKeyRecord("v=DKIM2; p=").permerror.find("not DKIM1") != std::string::npos);
  CHECK(parseKeyRecord("h=sha1; p=").permerror == "key record h= does not allow sha256");
  CHECK(parseKeyRecord("k=dsa; p=").permerror.find("unknown key type") != std::string::npos);
  CHECK(parseKeyRecord("s=web; p=").permerror == "key record s= does not allow email");
  CHECK(parseKeyRecord("v=DKIM1; k=rsa").permerror == "key record has no p= tag");
  CHECK(parseKeyRecord("p=MIGfMA0").permerror == "key record p= is not valid base64");
  CHECK(parseKeyRecord("p=a; p=b").permerror.find("twice") != std::string::npos);
  CHECK(parseKeyRecord("v=spf1 -all").permerror.find("not DKIM1") != std::string::npos);
  CHECK(parseKeyRecord("p=\xff\xfe").permerror.find("malformed") != std::string::npos);
}

TEST_CASE("dkim key: keys that do not load are permerrors") {
  CHECK(loadPublicKey(parseKeyRecord("p=dGVzdA==").record).permerror ==
        "key record p= is not an RSA public key");
  CHECK(loadPublicKey(parseKeyRecord("k=ed25519; p=dGVzdA==").record).permerror ==
        "ed25519 key is 4 bytes, not 32");
  // An ed25519 key in an RSA record, and the reverse.
  CHECK(loadPublicKey(parseKeyRecord("p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").record)
            .permerror == "key record p= is not an RSA public key");
  // A SubjectPublicKeyInfo with bytes after it.
  CHECK_FALSE(loadPublicKey(parseKeyRecord(Rsa1024Record + "AAAA").record).ok());
  // Truncated DER.
  CHECK_FALSE(loadPublicKey(parseKeyRecord(Rsa1024Record.substr(0, 100)).record).ok());
}

TEST_CASE("dkim key: selecting the usable record among several") {
  CHECK(selectKeyRecord({}).permerror == "no key");
  auto selection = selectKeyRecord({"v=spf1 -all", Ed25519Record, Rsa1024Record});
  REQUIRE(selection.record);
  CHECK(selection.record->type == KeyType::Ed25519);
  auto none = selectKeyRecord({"v=spf1 -all", "k=dsa; p="});
  CHECK_FALSE(none.record);
  CHECK(none.permerror.find("not DKIM1") != std::string::npos);
}
