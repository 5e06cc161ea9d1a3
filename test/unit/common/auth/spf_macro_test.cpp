#include "common/auth/spf_macro.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace upesi::spf;

namespace {

// RFC 7208 section 7.4.
MacroInputs rfcInputs(std::string client_ip = "192.0.2.3") {
  MacroInputs inputs;
  inputs.sender = "strong-bad@email.example.com";
  inputs.local_part = "strong-bad";
  inputs.sender_domain = "email.example.com";
  inputs.domain = "email.example.com";
  inputs.client_ip = std::move(client_ip);
  inputs.validated_name = "mx.example.org";
  inputs.helo = "mx.example.org";
  inputs.receiver = "mx.example.net";
  inputs.timestamp = 1764900000;
  return inputs;
}

std::string expand(std::string_view text, const MacroInputs& inputs = rfcInputs(),
                   MacroContext context = MacroContext::DomainSpec) {
  const MacroExpansion expansion = expandMacros(text, inputs, context);
  REQUIRE_MESSAGE(expansion.ok(), expansion.permerror);
  return expansion.text;
}

std::string macroPermerror(std::string_view text, MacroContext context = MacroContext::DomainSpec) {
  const MacroExpansion expansion = expandMacros(text, rfcInputs(), context);
  CHECK(expansion.text.empty());
  return expansion.permerror;
}

} // namespace

TEST_CASE("spf macros: the single macros of RFC 7208 section 7.4") {
  CHECK(expand("%{s}") == "strong-bad@email.example.com");
  CHECK(expand("%{o}") == "email.example.com");
  CHECK(expand("%{d}") == "email.example.com");
  CHECK(expand("%{d4}") == "email.example.com");
  CHECK(expand("%{d3}") == "email.example.com");
  CHECK(expand("%{d2}") == "example.com");
  CHECK(expand("%{d1}") == "com");
  CHECK(expand("%{dr}") == "com.example.email");
  CHECK(expand("%{d2r}") == "example.email");
  CHECK(expand("%{l}") == "strong-bad");
  CHECK(expand("%{l-}") == "strong.bad");
  CHECK(expand("%{lr}") == "strong-bad");
  CHECK(expand("%{lr-}") == "bad.strong");
  CHECK(expand("%{l1r-}") == "strong");
}

TEST_CASE("spf macros: the macro-strings of RFC 7208 section 7.4") {
  CHECK(expand("%{ir}.%{v}._spf.%{d2}") == "3.2.0.192.in-addr._spf.example.com");
  CHECK(expand("%{lr-}.lp._spf.%{d2}") == "bad.strong.lp._spf.example.com");
  CHECK(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}") ==
        "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
  CHECK(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}") ==
        "3.2.0.192.in-addr.strong.lp._spf.example.com");
  CHECK(expand("%{d2}.trusted-domains.example.net") == "example.com.trusted-domains.example.net");
  CHECK(expand("%{ir}.%{v}._spf.%{d2}", rfcInputs("2001:db8::cb01")) ==
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

TEST_CASE("spf macros: the other letters, escapes and upper case") {
  CHECK(expand("%{h}.%{p}.%{i}.%{v}") == "mx.example.org.mx.example.org.192.0.2.3.in-addr");
  CHECK(expand("%{i}", rfcInputs("2001:db8::cb01")) ==
        "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1");
  CHECK(expand("%%%_%-") == "% %20");
  CHECK(expand("%{S}") == "strong-bad%40email.example.com");
  MacroInputs plus = rfcInputs();
  plus.local_part = "a+b/c";
  CHECK(expand("%{L}", plus) == "a%2Bb%2Fc");
  CHECK(expand("%{l+}", plus) == "a.b/c");
  CHECK(expand("%{l+/}", plus) == "a.b.c");
  CHECK(expand("%{d9}") == "email.example.com");
  CHECK(expand("%{d99999999999999999999}") == "email.example.com");
  CHECK(expand("%{DR}") == "com.example.email");
  CHECK(expand("%{c} %{r} %{t}", rfcInputs("2001:db8::cb01"), MacroContext::Explanation) ==
        "2001:db8::cb01 mx.example.net 1764900000");
}

TEST_CASE("spf macros: a domain-spec is cut to 253 characters by whole labels from the left") {
  MacroInputs inputs = rfcInputs();
  std::string label(60, 'x');
  inputs.domain = label + "." + label + "." + label + "." + label + "." + label + ".example.com";
  const std::string expanded = expand("%{d}", inputs);
  CHECK(expanded.size() <= MaxDomainLength);
  // 316 characters; without the first label still 255
  CHECK(expanded == label + "." + label + "." + label + ".example.com");
  CHECK(expandMacros("%{d}", inputs, MacroContext::Explanation).text == inputs.domain);
  CHECK(truncateDomain(std::string(300, 'y')).size() == MaxDomainLength);
  CHECK(truncateDomain("a.b") == "a.b");
}

TEST_CASE("spf macros: bad syntax is a permerror") {
  CHECK(macroPermerror("%") != "");
  CHECK(macroPermerror("%x") != "");
  CHECK(macroPermerror("%{d") != "");
  CHECK(macroPermerror("%{}") != "");
  CHECK(macroPermerror("%{q}") != "");
  CHECK(macroPermerror("%{d0}") != "");
  CHECK(macroPermerror("%{d2x}") != "");
  CHECK(expand("%{d}}") == "email.example.com}"); // a '}' outside a macro is a literal
  CHECK(macroPermerror("a b") != "");
  CHECK(expand("a b", rfcInputs(), MacroContext::Explanation) == "a b");
  CHECK(macroPermerror("%{c}") != "");
  CHECK(macroPermerror("%{r}") != "");
  CHECK(macroPermerror("%{t}") != "");
  CHECK(macroStringError("%{c}", MacroContext::Explanation) == "");
  MacroInputs bad_ip = rfcInputs("not-an-ip");
  CHECK_FALSE(expandMacros("%{i}", bad_ip, MacroContext::DomainSpec).ok());
  CHECK(expandMacros("%{d}", bad_ip, MacroContext::DomainSpec).ok());
}
