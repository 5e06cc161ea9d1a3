// The DKIM key record parser (common/auth/dkim_key): a TXT record found at
// selector._domainkey.domain, and the public key it carries.
//
// Input: the TXT record (its strings joined).
//
// Invariants: parsing is deterministic; a failure has a reason and leaves a default record;
// a revoked record has no key bytes; loading a key never crashes, and a loaded RSA key is at
// least the minimum size; selecting among copies of the record agrees with parsing it.
#include "common/auth/dkim_key.hpp"

#include "test/fuzz/fuzz_check.hpp"

#include <string>

using namespace upesi::dkim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string txt(upesi::fuzz::asView(data, size));
  const KeyRecordParse parse = parseKeyRecord(txt);
  const KeyRecordParse again = parseKeyRecord(txt);
  FUZZ_CHECK(parse.permerror == again.permerror);
  FUZZ_CHECK(parse.record.public_key == again.record.public_key);

  const KeySelection selection = selectKeyRecord({"v=spf1 -all", txt});
  FUZZ_CHECK(selection.record.has_value() == parse.ok());

  if (!parse.ok()) {
    FUZZ_CHECK(parse.record.public_key.empty() && !parse.record.revoked);
    return 0;
  }
  FUZZ_CHECK(!parse.record.revoked || parse.record.public_key.empty());
  const PublicKeyLoad load = loadPublicKey(parse.record);
  FUZZ_CHECK(load.ok() == static_cast<bool>(load.key));
  if (load.ok() && parse.record.type == KeyType::Rsa) {
    FUZZ_CHECK(load.bits >= MinimumRsaBits);
  }
  if (parse.record.revoked) {
    FUZZ_CHECK(!load.ok());
  }
  return 0;
}
