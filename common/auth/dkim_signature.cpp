#include "common/auth/dkim_signature.hpp"

#include "common/auth/tag_list.hpp"
#include "common/util/ascii.hpp"
#include "common/util/base64.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

#include <limits>

namespace upesi::dkim {
namespace {

constexpr std::size_t Sha256Size = 32;

std::string_view trimAll(std::string_view text) {
  while (!text.empty() && text::isFoldingSpace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && text::isFoldingSpace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// A domain name or selector (RFC 6376 section 3.5: sub-domain): dot-separated labels of
// letters, digits, '-' and '_' (selectors and DNS names use underscores in the wild).
bool isDomainLike(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) {
        return false;
      }
      label = 0;
      continue;
    }
    if (!ascii::isLetter(c) && !ascii::isDigit(c) && c != '-' && c != '_') {
      return false;
    }
    if (++label > 63) {
      return false;
    }
  }
  return label > 0;
}

std::vector<std::string> splitColons(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t colon = text.find(':', start);
    parts.emplace_back(trimAll(text.substr(start, colon == text.npos ? text.npos : colon - start)));
    if (colon == text.npos) {
      return parts;
    }
    start = colon + 1;
  }
}

bool allDigits(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    if (!ascii::isDigit(c)) {
      return false;
    }
  }
  return true;
}

// Up to 18 digits fits in int64 with room; more is out of range (or, for l=, saturates).
std::optional<std::uint64_t> parseDecimal(std::string_view text) {
  if (!allDigits(text) || text.size() > 18) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (char c : text) {
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

std::optional<std::string> decodeBase64Tag(std::string_view value) {
  std::string compact = auth::withoutWhitespace(value);
  if (compact.empty()) {
    return std::nullopt;
  }
  return base64Decode(compact);
}

} // namespace

std::string_view algorithmName(Algorithm algorithm) {
  return algorithm == Algorithm::RsaSha256 ? "rsa-sha256" : "ed25519-sha256";
}

std::string Signature::keyName() const {
  return selector + "._domainkey." + domain;
}

bool isSameOrSubdomain(std::string_view domain, std::string_view parent) {
  if (parent.empty() || domain.size() < parent.size()) {
    return false;
  }
  if (!text::equalsIgnoreCase(domain.substr(domain.size() - parent.size()), parent)) {
    return false;
  }
  return domain.size() == parent.size() || domain[domain.size() - parent.size() - 1] == '.';
}

std::string withoutSignatureValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find(';', start);
    std::string_view spec = value.substr(start, end == value.npos ? value.npos : end - start);
    std::size_t equals = spec.find('=');
    if (equals != spec.npos && trimAll(spec.substr(0, equals)) == "b") {
      std::string_view tag_value = spec.substr(equals + 1);
      std::size_t last = tag_value.size();
      while (last > 0 && text::isFoldingSpace(tag_value[last - 1])) {
        --last;
      }
      out += spec.substr(0, equals + 1);
      out += tag_value.substr(last);
    } else {
      out += spec;
    }
    if (end == value.npos) {
      break;
    }
    out += ';';
    start = end + 1;
  }
  return out;
}

SignatureParse parseSignature(std::string_view value) {
  SignatureParse parse;
  auto fail = [&parse](std::string reason) {
    parse.signature = Signature{};
    parse.permerror = std::move(reason);
    return parse;
  };
  const auth::TagList tags = auth::parseTagList(value);
  if (!tags.ok()) {
    return fail("malformed signature: " + tags.error);
  }
  for (const char* required : {"v", "a", "b", "bh", "d", "h", "s"}) {
    if (!tags.find(required)) {
      return fail(fmt::format("signature has no {}= tag", required));
    }
  }
  Signature& sig = parse.signature;

  if (*tags.find("v") != "1") {
    return fail(fmt::format("unsupported signature version v={}", tags.find("v")->substr(0, 20)));
  }

  const std::string algorithm = text::toLower(*tags.find("a"));
  if (algorithm == "rsa-sha256") {
    sig.algorithm = Algorithm::RsaSha256;
  } else if (algorithm == "ed25519-sha256") {
    sig.algorithm = Algorithm::Ed25519Sha256;
  } else if (algorithm == "rsa-sha1") {
    return fail("algorithm rsa-sha1 is not allowed (RFC 8301)");
  } else {
    return fail(fmt::format("unknown algorithm a={}", algorithm.substr(0, 40)));
  }

  if (auto c = tags.find("c")) {
    const std::string text = text::toLower(*c);
    std::size_t slash = text.find('/');
    std::string_view header = std::string_view(text).substr(0, slash);
    std::string_view body =
        slash == text.npos ? "simple" : std::string_view(text).substr(slash + 1);
    auto canonOf = [](std::string_view name) -> std::optional<Canon> {
      if (name == "simple") {
        return Canon::Simple;
      }
      if (name == "relaxed") {
        return Canon::Relaxed;
      }
      return std::nullopt;
    };
    auto header_canon = canonOf(header);
    auto body_canon = canonOf(body);
    if (!header_canon || !body_canon) {
      return fail(fmt::format("unknown canonicalization c={}", text.substr(0, 40)));
    }
    sig.header_canon = *header_canon;
    sig.body_canon = *body_canon;
  }

  sig.domain = text::toLower(*tags.find("d"));
  if (!isDomainLike(sig.domain)) {
    return fail(fmt::format("d= is not a domain name: {}", sig.domain.substr(0, 80)));
  }
  sig.selector = text::toLower(*tags.find("s"));
  if (!isDomainLike(sig.selector)) {
    return fail(fmt::format("s= is not a selector: {}", sig.selector.substr(0, 80)));
  }

  bool has_from = false;
  for (std::string& name : splitColons(*tags.find("h"))) {
    if (name.empty()) {
      return fail("h= has an empty header name");
    }
    for (char c : name) {
      if (text::isFoldingSpace(c)) {
        return fail("h= has a header name with whitespace in it");
      }
    }
    if (sig.signed_headers.size() == MaxSignedHeaderNames) {
      return fail(fmt::format("h= lists more than {} header fields", MaxSignedHeaderNames));
    }
    name = text::toLower(name);
    has_from = has_from || name == "from";
    sig.signed_headers.push_back(std::move(name));
  }
  if (!has_from) {
    return fail("h= does not include from");
  }

  if (auto i = tags.find("i")) {
    std::size_t at = i->rfind('@');
    if (at == std::string_view::npos) {
      return fail("i= has no '@'");
    }
    if (!isSameOrSubdomain(i->substr(at + 1), sig.domain)) {
      return fail(fmt::format("i= domain {} is not d= {} or a subdomain of it",
                              i->substr(at + 1, 80), sig.domain));
    }
    sig.identity = std::string(*i);
  } else {
    sig.identity = "@" + sig.domain;
  }

  if (auto l = tags.find("l")) {
    if (!allDigits(*l)) {
      return fail("l= is not a number");
    }
    if (l->size() > 76) {
      return fail("l= has more than 76 digits");
    }
    auto length = parseDecimal(*l);
    sig.body_length = length ? *length : std::numeric_limits<std::uint64_t>::max();
  }

  if (auto q = tags.find("q")) {
    bool dns_txt = false;
    for (const std::string& method : splitColons(*q)) {
      dns_txt = dns_txt || text::equalsIgnoreCase(method, "dns/txt");
    }
    if (!dns_txt) {
      return fail(fmt::format("q= does not offer dns/txt: {}", q->substr(0, 40)));
    }
  }

  for (const char* name : {"t", "x"}) {
    if (auto text = tags.find(name)) {
      auto number = parseDecimal(*text);
      if (!number) {
        return fail(fmt::format("{}= is not a timestamp", name));
      }
      (name[0] == 't' ? sig.timestamp : sig.expiration) = static_cast<std::int64_t>(*number);
    }
  }
  if (sig.timestamp && sig.expiration && *sig.expiration < *sig.timestamp) {
    return fail("x= is before t=");
  }

  auto body_hash = decodeBase64Tag(*tags.find("bh"));
  if (!body_hash) {
    return fail("bh= is not valid base64");
  }
  if (body_hash->size() != Sha256Size) {
    return fail("bh= is not a SHA-256 digest");
  }
  sig.body_hash = std::move(*body_hash);
  auto signature = decodeBase64Tag(*tags.find("b"));
  if (!signature) {
    return fail(tags.find("b")->empty() ? "b= is empty" : "b= is not valid base64");
  }
  sig.signature = std::move(*signature);
  sig.b_base64 = auth::withoutWhitespace(*tags.find("b"));
  sig.value_without_b = withoutSignatureValue(value);
  return parse;
}

} // namespace upesi::dkim
