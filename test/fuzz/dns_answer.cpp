// DNS answers (common/dns/resolver parseAnswer): the message a server sends, parsed by c-ares
// (ares_parse_*_reply, in the system library) and turned into records by our code, then, for MX,
// into a delivery plan (common/dns/mx_plan planFromMxAnswer); and its lifetime as the answer
// cache reads it (common/dns/answer_ttl), and the TLSA records DANE takes from it
// (common/dns/dane_lookup), by our own walks over the message.
//
// c-ares does the wire parsing and is not instrumented here (it is the system's libcares), so
// coverage guides the fuzzer only through our side: the loops over c-ares' results, the TTL and
// priority conversions, TXT strings joined per record, hostent aliases. ASan still sees every
// allocation c-ares makes and frees.
//
// Input: one byte choosing the query type, then the answer message.
//
// Invariants: Ok has records and NoData none; an error has a reason; A/AAAA values are
// addresses of their family; the records written back into an answer message parse to the same
// records; an MX plan lists usable hosts only, in preference order.
#include "common/dns/answer_ttl.hpp"
#include "common/dns/dane_lookup.hpp"
#include "common/dns/mx_plan.hpp"
#include "common/dns/resolver.hpp"
#include "test/fuzz/fuzz_check.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <optional>
#include <string>
#include <vector>

using namespace upesi;

namespace {

constexpr DnsType Types[] = {DnsType::A,   DnsType::Aaaa,  DnsType::Mx, DnsType::Txt,
                             DnsType::Ptr, DnsType::Cname, DnsType::Ns};

void put16(std::string& out, unsigned value) {
  out += static_cast<char>((value >> 8) & 0xFF);
  out += static_cast<char>(value & 0xFF);
}

void put32(std::string& out, std::uint32_t value) {
  put16(out, value >> 16);
  put16(out, value & 0xFFFF);
}

// A host name as DNS labels; false if it is not a plain dotted name of letters, digits, '-' and
// '_' (c-ares refuses other bytes in names it reads from records, though not in the question).
bool putName(std::string& out, std::string_view name) {
  if (name.empty() || name.size() > 253 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
          std::string_view::npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::size_t length = dot - start;
    if (length == 0 || length > 63) {
      return false;
    }
    out += static_cast<char>(length);
    out.append(name.substr(start, length));
    start = dot + 1;
  }
  out += '\0';
  return true;
}

// The records as an answer message to "q.test": nothing if a record cannot be written.
std::optional<std::string> answerMessage(DnsType type, const std::vector<DnsRecord>& records) {
  std::string out;
  put16(out, 0x1234); // id
  put16(out, 0x8180); // response, recursion desired and available, NOERROR
  put16(out, 1);      // one question
  put16(out, type == DnsType::Cname ? 1 : static_cast<unsigned>(records.size())); // answers
  put16(out, 0);
  put16(out, 0);
  putName(out, "q.test");
  put16(out, static_cast<unsigned>(dns::recordType(type)));
  put16(out, ns_c_in);
  for (const auto& record : records) {
    std::string data;
    switch (type) {
    case DnsType::A:
    case DnsType::Aaaa: {
      unsigned char address[16];
      const int family = type == DnsType::A ? AF_INET : AF_INET6;
      FUZZ_CHECK(::inet_pton(family, record.value.c_str(), address) == 1);
      data.assign(reinterpret_cast<const char*>(address), type == DnsType::A ? 4 : 16);
      break;
    }
    case DnsType::Mx:
      put16(data, record.priority);
      if (!putName(data, record.value)) {
        return std::nullopt;
      }
      break;
    case DnsType::Txt:
      for (std::size_t i = 0; i < record.value.size() || i == 0; i += 255) {
        const std::string_view piece = std::string_view(record.value).substr(i, 255);
        data += static_cast<char>(piece.size());
        data.append(piece);
      }
      break;
    case DnsType::Ptr:
    case DnsType::Cname:
    case DnsType::Ns:
      if (!putName(data, record.value)) {
        return std::nullopt;
      }
      break;
    }
    if (data.size() > 0xFFFF) {
      return std::nullopt;
    }
    put16(out, 0xC00C); // the question's name
    put16(out, static_cast<unsigned>(dns::recordType(type)));
    put16(out, ns_c_in);
    put32(out, record.ttl);
    put16(out, static_cast<unsigned>(data.size()));
    out += data;
    if (type == DnsType::Cname) {
      break; // a CNAME answer has the one name
    }
  }
  return out;
}

// The types of the records in the answer section, or nothing if the message is cut short.
std::optional<std::vector<int>> answerTypes(const std::uint8_t* message, std::size_t size) {
  if (size < 12) {
    return std::nullopt;
  }
  auto skipName = [&](std::size_t& pos) {
    while (pos < size) {
      const std::uint8_t length = message[pos];
      if ((length & 0xC0) == 0xC0) {
        pos += 2;
        return pos <= size;
      }
      pos += 1 + length;
      if (length == 0) {
        return pos <= size;
      }
    }
    return false;
  };
  const unsigned questions = message[4] << 8 | message[5];
  const unsigned answers = message[6] << 8 | message[7];
  std::size_t pos = 12;
  for (unsigned i = 0; i < questions; ++i) {
    if (!skipName(pos) || (pos += 4) > size) {
      return std::nullopt;
    }
  }
  std::vector<int> types;
  for (unsigned i = 0; i < answers; ++i) {
    if (!skipName(pos) || pos + 10 > size) {
      return std::nullopt;
    }
    types.push_back(message[pos] << 8 | message[pos + 1]);
    pos += 10 + (message[pos + 8] << 8 | message[pos + 9]);
  }
  return types;
}

void checkMxPlan(const DnsResult& result) {
  const dns::MxPlan plan = dns::planFromMxAnswer("q.test", result);
  if (result.status != DnsStatus::Ok) {
    FUZZ_CHECK(plan.hosts.empty() || plan.kind == dns::MxPlan::Kind::Implicit);
    return;
  }
  if (plan.kind == dns::MxPlan::Kind::NullMx) {
    FUZZ_CHECK(plan.hosts.empty() && !plan.reason.empty());
    return;
  }
  FUZZ_CHECK(plan.kind == dns::MxPlan::Kind::Hosts && !plan.hosts.empty());
  FUZZ_CHECK(plan.hosts.size() <= result.records.size());
  for (std::size_t i = 0; i < plan.hosts.size(); ++i) {
    FUZZ_CHECK(!plan.hosts[i].exchange.empty() && plan.hosts[i].exchange != ".");
    FUZZ_CHECK(plan.hosts[i].port == 25);
    FUZZ_CHECK(i == 0 || plan.hosts[i - 1].priority <= plan.hosts[i].priority);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 65535 + 1) {
    return 0;
  }
  const DnsType type = Types[data[0] % 7];
  const DnsResult result = dns::parseAnswer(type, data + 1, static_cast<int>(size - 1));
  // How long the answer cache keeps it: read by our own walk over the same message.
  if (auto ttl = dns::answerTtl(data + 1, static_cast<int>(size - 1))) {
    FUZZ_CHECK(*ttl <= 0x7FFFFFFFU);
  }
  // What DANE reads of the same message: TLSA records (our own walk) and what they demand.
  {
    dns::Resolver::RawAnswer raw{DnsStatus::Ok, "",
                                 std::string(reinterpret_cast<const char*>(data + 1), size - 1)};
    const auto dane = dns::requirementFromTlsa("_25._tcp.mx.test", raw);
    FUZZ_CHECK(!dane.reason.empty());
    FUZZ_CHECK((dane.kind == dns::DaneRequirement::Kind::Usable) == !dane.records.empty());
    for (const auto& record : dane.records) {
      FUZZ_CHECK(dns::usableForSmtp(record));
    }
  }

  switch (result.status) {
  case DnsStatus::Ok:
    FUZZ_CHECK(!result.records.empty());
    break;
  case DnsStatus::NoData:
    FUZZ_CHECK(result.records.empty());
    break;
  default:
    FUZZ_CHECK(result.records.empty() && !result.error.empty());
    break;
  }
  for (const auto& record : result.records) {
    unsigned char address[16];
    if (type == DnsType::A) {
      FUZZ_CHECK(::inet_pton(AF_INET, record.value.c_str(), address) == 1);
    } else if (type == DnsType::Aaaa) {
      FUZZ_CHECK(::inet_pton(AF_INET6, record.value.c_str(), address) == 1);
    }
    FUZZ_CHECK(record.priority <= 0xFFFF);
    FUZZ_CHECK(type == DnsType::Mx || record.priority == 0);
    FUZZ_CHECK(type == DnsType::A || type == DnsType::Aaaa || record.ttl == 0);
  }
  if (type == DnsType::Mx) {
    checkMxPlan(result);
  }
  if (result.status != DnsStatus::Ok) {
    return 0;
  }
  // Records come from records of the type asked for (CNAME: the target of a CNAME record).
  const auto types = answerTypes(data + 1, size - 1);
  FUZZ_CHECK(types.has_value());
  FUZZ_CHECK(std::find(types->begin(), types->end(), dns::recordType(type)) != types->end());

  // Written back into a plain answer, the records read the same.
  const auto message = answerMessage(type, result.records);
  if (!message) {
    return 0;
  }
  const DnsResult again =
      dns::parseAnswer(type, reinterpret_cast<const unsigned char*>(message->data()),
                       static_cast<int>(message->size()));
  FUZZ_CHECK(again.status == DnsStatus::Ok);
  if (type == DnsType::Cname) {
    FUZZ_CHECK(again.records.size() == 1 && again.records[0].value == result.records[0].value);
    return 0;
  }
  FUZZ_CHECK(again.records.size() == result.records.size());
  for (std::size_t i = 0; i < again.records.size(); ++i) {
    FUZZ_CHECK(again.records[i].value == result.records[i].value);
    FUZZ_CHECK(again.records[i].priority == result.records[i].priority);
    FUZZ_CHECK(again.records[i].ttl == result.records[i].ttl);
  }
  return 0;
}
