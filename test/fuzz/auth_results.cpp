// Authentication-Results and From field readers (common/auth/auth_results, from_domain):
// a header field value from the network.
//
// Input: the first byte chooses what else is checked; the rest is the field value.
//
// Invariants: authservId and fromDomain are deterministic and bounded; an authserv-id is never
// empty; a From domain found is a lower-case domain name among the domains reported; a value
// built with any bytes as the authserv-id, comment, reason and property value reads back to
// that authserv-id (control characters aside) and holds no bare CR or LF outside folding.
#include "common/auth/auth_results.hpp"

#include "common/auth/from_domain.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <string>
#include <vector>

using namespace upesi;

namespace {

void checkBuilt(std::string_view text) {
  std::string id;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      id += c;
    }
  }
  if (id.empty()) {
    return;
  }
  std::vector<auth::MethodResult> results{
      {std::string(text),
       1,
       std::string(text),
       std::string(text),
       std::string(text),
       {{"header", "from", std::string(text)}, {std::string(text), "x", "y"}}}};
  const std::string value = auth::buildAuthResults(id, results);
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\r') {
      FUZZ_CHECK(i + 2 < value.size() && value[i + 1] == '\n' && value[i + 2] == '\t');
    } else if (value[i] == '\n') {
      FUZZ_CHECK(i > 0 && value[i - 1] == '\r');
    }
  }
  if (value.size() <= auth::MaxAuthResultsValue) {
    const auto read = auth::authservId(value);
    FUZZ_CHECK(read);
    FUZZ_CHECK(*read == id);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::uint8_t mode = data[0];
  const std::string_view value = fuzz::asView(data + 1, size - 1);

  const auto id = auth::authservId(value);
  FUZZ_CHECK(id == auth::authservId(value));
  FUZZ_CHECK(!id || !id->empty());
  FUZZ_CHECK(!id || value.size() <= auth::MaxAuthResultsValue);

  std::vector<std::string> fields{std::string(value)};
  if ((mode & 1) != 0) {
    fields.push_back("a@example.com");
  }
  const dmarc::FromDomain from = dmarc::fromDomain(fields);
  const dmarc::FromDomain again = dmarc::fromDomain(fields);
  FUZZ_CHECK(from.problem == again.problem && from.domain == again.domain);
  FUZZ_CHECK(from.ok() == !from.domain.empty());
  FUZZ_CHECK(from.ok() || !from.detail.empty());
  if ((mode & 1) != 0) {
    FUZZ_CHECK(from.problem == dmarc::FromDomain::Problem::SeveralFromFields);
  }
  if (from.ok()) {
    FUZZ_CHECK(from.domains.size() == 1 && from.domains[0] == from.domain);
    for (char c : from.domain) {
      FUZZ_CHECK(!(c >= 'A' && c <= 'Z') && static_cast<unsigned char>(c) < 0x80);
    }
  }
  const dmarc::MailboxList list = dmarc::parseMailboxList(value);
  FUZZ_CHECK(list.ok() || list.mailboxes.empty());
  FUZZ_CHECK(list.mailboxes.size() <= dmarc::MaxFromAddresses);

  if ((mode & 2) != 0 && value.size() <= 4096) {
    checkBuilt(value);
  }
  return 0;
}
