#include "common/maildrop/address_list.hpp"

namespace upesi::maildrop {
namespace {

// Walks an address list as RFC 5322 reads it: `quoted(c)` gets each byte of a quoted string
// (its quotes and backslash escapes included), comments (nested, with escapes) are skipped, and
// `plain(i)` gets the index of every other byte.
template <typename Plain, typename Quoted>
void walk(std::string_view text, Plain plain, Quoted quoted) {
  bool in_quotes = false;
  int comment = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && (in_quotes || comment > 0) && i + 1 < text.size()) {
      if (in_quotes) {
        quoted(c);
        quoted(text[i + 1]);
      }
      ++i;
    } else if (in_quotes) {
      quoted(c);
      in_quotes = c != '"';
    } else if (comment > 0) {
      comment += c == '(' ? 1 : c == ')' ? -1 : 0;
    } else if (c == '"') {
      in_quotes = true;
      quoted(c);
    } else if (c == '(') {
      comment = 1;
    } else {
      plain(i);
    }
  }
}

// One item of the list: the text in its last angle brackets, else the item without comments.
// A route ("@a,@b:user@c") is dropped from a bracketed address.
std::string addressOf(std::string_view item) {
  std::string bare;
  std::string bracketed;
  bool in_brackets = false;
  bool had_brackets = false;
  auto out = [&]() -> std::string& { return in_brackets ? bracketed : bare; };
  walk(
      item,
      [&](std::size_t i) {
        const char c = item[i];
        if (c == '<' && !in_brackets) {
          in_brackets = true;
          had_brackets = true;
          bracketed.clear();
        } else if (c == '>' && in_brackets) {
          in_brackets = false;
        } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
          out() += c;
        }
      },
      [&](char c) { out() += c; });
  if (!had_brackets) {
    return bare;
  }
  if (!bracketed.empty() && bracketed.front() == '@') {
    if (const auto colon = bracketed.find(':'); colon != std::string::npos) {
      bracketed.erase(0, colon + 1);
    }
  }
  return bracketed;
}

} // namespace

std::vector<std::string> splitAddressList(std::string_view value, std::size_t max) {
  std::vector<std::string> out;
  std::size_t start = 0;
  bool in_brackets = false;
  auto take = [&](std::size_t end) {
    std::string address = addressOf(value.substr(start, end - start));
    if (!address.empty() && out.size() < max) {
      out.push_back(std::move(address));
    }
    start = end + 1;
  };
  walk(
      value,
      [&](std::size_t i) {
        const char c = value[i];
        if (c == '<') {
          in_brackets = true;
        } else if (c == '>') {
          in_brackets = false;
        } else if (!in_brackets && (c == ',' || c == ';')) {
          take(i);
        } else if (!in_brackets && c == ':') {
          start = i + 1; // a group's name: its members follow
        }
      },
      [](char) {});
  take(value.size());
  return out;
}

} // namespace upesi::maildrop
