#include "common/auth/from_domain.hpp"

#include "common/auth/public_suffix.hpp"
#include "common/auth/punycode.hpp"
#include "common/smtp/address_parser.hpp"
#include "common/util/ascii.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>

#include <optional>

namespace upesi::dmarc {
namespace {

struct Token {
  enum class Kind { Word, Quoted, Literal, Special };
  Kind kind = Kind::Word;
  std::string text; // the word, the unquoted string, the literal with brackets, the special
};

bool isAtext(char c) {
  return ascii::isLetter(c) || ascii::isDigit(c) || ascii::isNonAscii(c) ||
         std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// Skips the comment at `pos` (nested, with quoted-pairs); false when it does not end.
bool skipComment(std::string_view value, std::size_t& pos) {
  std::size_t depth = 0;
  while (pos < value.size()) {
    const char c = value[pos++];
    if (c == '\\') {
      if (pos >= value.size()) {
        return false;
      }
      ++pos;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && --depth == 0) {
      return true;
    }
  }
  return false;
}

// Reads the quoted string at `pos` into `text`, quoted-pairs undone and line breaks dropped;
// false when it does not end.
bool readQuoted(std::string_view value, std::size_t& pos, std::string& text) {
  ++pos; // the opening quote
  while (pos < value.size()) {
    const char c = value[pos++];
    if (c == '"') {
      return true;
    }
    if (c == '\\') {
      if (pos >= value.size()) {
        return false;
      }
      text += value[pos++];
    } else if (c != '\r' && c != '\n') {
      text += c;
    }
  }
  return false;
}

// Splits a field value into tokens, dropping whitespace and comments; an error names what is
// unterminated or unexpected.
std::string tokenize(std::string_view value, std::vector<Token>& tokens) {
  std::size_t pos = 0;
  while (pos < value.size()) {
    const char c = value[pos];
    if (text::isFoldingSpace(c)) {
      ++pos;
    } else if (c == '(') {
      if (!skipComment(value, pos)) {
        return "an unterminated comment";
      }
    } else if (c == '"') {
      Token token{Token::Kind::Quoted, {}};
      if (!readQuoted(value, pos, token.text)) {
        return "an unterminated quoted string";
      }
      tokens.push_back(std::move(token));
    } else if (c == '[') {
      const std::size_t end = value.find(']', pos);
      if (end == std::string_view::npos) {
        return "an unterminated domain literal";
      }
      tokens.push_back({Token::Kind::Literal, std::string(value.substr(pos, end - pos + 1))});
      pos = end + 1;
    } else if (std::string_view("<>@,;:.").find(c) != std::string_view::npos) {
      tokens.push_back({Token::Kind::Special, std::string(1, c)});
      ++pos;
    } else if (isAtext(c)) {
      Token token{Token::Kind::Word, {}};
      while (pos < value.size() && isAtext(value[pos])) {
        token.text += value[pos++];
      }
      tokens.push_back(std::move(token));
    } else {
      return fmt::format("an unexpected character 0x{:02x}", static_cast<unsigned char>(c));
    }
  }
  return {};
}

class Parser {
public:
  explicit Parser(const std::vector<Token>& tokens) : tokens_(tokens) {}

  std::string parse(std::vector<Mailbox>& out) {
    out_ = &out;
    while (pos_ < tokens_.size()) {
      if (isSpecial(",")) {
        ++pos_;
        continue;
      }
      if (auto error = address(true); !error.empty()) {
        return error;
      }
      if (pos_ < tokens_.size() && !isSpecial(",")) {
        return fmt::format("'{}' after an address", tokens_[pos_].text);
      }
    }
    return {};
  }

private:
  bool isSpecial(std::string_view special) const {
    return pos_ < tokens_.size() && tokens_[pos_].kind == Token::Kind::Special &&
           tokens_[pos_].text == special;
  }

  bool isWordOrQuoted() const {
    return pos_ < tokens_.size() &&
           (tokens_[pos_].kind == Token::Kind::Word || tokens_[pos_].kind == Token::Kind::Quoted);
  }

  std::string add(Mailbox mailbox) {
    if (out_->size() >= MaxFromAddresses) {
      return fmt::format("more than {} addresses", MaxFromAddresses);
    }
    out_->push_back(std::move(mailbox));
    return {};
  }

  // local-part: words, quoted strings and dots, concatenated.
  std::string localPart() {
    std::string local;
    while (isWordOrQuoted() || isSpecial(".")) {
      local += tokens_[pos_++].text;
    }
    return local;
  }

  std::optional<std::string> domain() {
    if (pos_ < tokens_.size() && tokens_[pos_].kind == Token::Kind::Literal) {
      return tokens_[pos_++].text;
    }
    std::string domain;
    while (pos_ < tokens_.size() && (tokens_[pos_].kind == Token::Kind::Word || isSpecial("."))) {
      domain += tokens_[pos_++].text;
    }
    if (domain.empty()) {
      return std::nullopt;
    }
    return domain;
  }

  std::string angleAddress() {
    ++pos_; // '<'
    if (isSpecial(">")) {
      ++pos_;
      return add({});
    }
    if (isSpecial("@")) { // obs-route: "@a,@b:" before the address
      while (pos_ < tokens_.size() && !isSpecial(":")) {
        if (isSpecial(">")) {
          return "a source route without ':'";
        }
        ++pos_;
      }
      if (pos_ >= tokens_.size()) {
        return "an unterminated angle address";
      }
      ++pos_;
    }
    Mailbox mailbox;
    mailbox.local_part = localPart();
    if (isSpecial("@")) {
      ++pos_;
      auto parsed = domain();
      if (!parsed) {
        return "no domain after '@'";
      }
      mailbox.domain = std::move(*parsed);
    }
    if (!isSpecial(">")) {
      return "an unterminated angle address";
    }
    ++pos_;
    return add(std::move(mailbox));
  }

  std::string address(bool group_allowed) {
    const std::size_t start = pos_;
    while (isWordOrQuoted() || isSpecial(".")) {
      ++pos_;
    }
    const bool have_phrase = pos_ > start;
    if (isSpecial("<")) {
      return angleAddress();
    }
    if (isSpecial(":") && have_phrase && group_allowed) {
      ++pos_;
      while (pos_ < tokens_.size() && !isSpecial(";")) {
        if (isSpecial(",")) {
          ++pos_;
          continue;
        }
        if (auto error = address(false); !error.empty()) {
          return error;
        }
        if (pos_ < tokens_.size() && !isSpecial(",") && !isSpecial(";")) {
          return fmt::format("'{}' after an address in a group", tokens_[pos_].text);
        }
      }
      if (isSpecial(";")) {
        ++pos_;
      }
      return {};
    }
    if (isSpecial("@") && have_phrase) {
      pos_ = start;
      Mailbox mailbox;
      mailbox.local_part = localPart();
      ++pos_; // '@'
      auto parsed = domain();
      if (!parsed) {
        return "no domain after '@'";
      }
      mailbox.domain = std::move(*parsed);
      return add(std::move(mailbox));
    }
    if (have_phrase && (pos_ >= tokens_.size() || isSpecial(",") || isSpecial(";"))) {
      pos_ = start;
      Mailbox mailbox;
      mailbox.local_part = localPart(); // an address without a domain
      return add(std::move(mailbox));
    }
    if (pos_ >= tokens_.size()) {
      return "the value ends inside an address";
    }
    return fmt::format("an unexpected '{}'", tokens_[pos_].text);
  }

  const std::vector<Token>& tokens_;
  std::size_t pos_ = 0;
  std::vector<Mailbox>* out_ = nullptr;
};

} // namespace

MailboxList parseMailboxList(std::string_view value) {
  MailboxList list;
  if (value.size() > MaxFromFieldLength) {
    list.error = fmt::format("longer than {} bytes", MaxFromFieldLength);
    return list;
  }
  std::vector<Token> tokens;
  list.error = tokenize(value, tokens);
  if (list.error.empty()) {
    list.error = Parser(tokens).parse(list.mailboxes);
  }
  if (!list.error.empty()) {
    list.mailboxes.clear();
  }
  return list;
}

FromDomain fromDomain(const std::vector<std::string>& from_values) {
  FromDomain result;
  auto problem = [&result](FromDomain::Problem kind, std::string detail) {
    result.problem = kind;
    result.domain.clear();
    result.detail = std::move(detail);
    return result;
  };
  if (from_values.empty()) {
    return problem(FromDomain::Problem::NoFrom, "no From field");
  }
  if (from_values.size() > 1) {
    return problem(FromDomain::Problem::SeveralFromFields,
                   fmt::format("{} From fields", from_values.size()));
  }
  const MailboxList list = parseMailboxList(from_values.front());
  if (!list.ok()) {
    return problem(FromDomain::Problem::Unparseable, "an unparseable From field: " + list.error);
  }
  if (list.mailboxes.empty()) {
    return problem(FromDomain::Problem::NoDomain, "no address in the From field");
  }
  for (const Mailbox& mailbox : list.mailboxes) {
    if (mailbox.domain.empty()) {
      return problem(FromDomain::Problem::NoDomain, "a From address without a domain");
    }
    if (mailbox.domain.front() == '[') {
      return problem(FromDomain::Problem::NoDomain, "a From address with an address literal");
    }
    std::string domain = auth::normalizeDomain(mailbox.domain);
    auto a_labels = auth::toALabels(domain);
    if (!a_labels || !smtp::isDomain(*a_labels)) {
      return problem(FromDomain::Problem::NoDomain,
                     fmt::format("a From domain that is not a domain name"));
    }
    bool seen = false;
    for (const std::string& known : result.domains) {
      seen = seen || known == *a_labels;
    }
    if (!seen) {
      result.domains.push_back(std::move(*a_labels));
    }
  }
  if (result.domains.size() > 1) {
    return problem(FromDomain::Problem::SeveralDomains,
                   fmt::format("From addresses in {} domains", result.domains.size()));
  }
  result.domain = result.domains.front();
  return result;
}

} // namespace upesi::dmarc
