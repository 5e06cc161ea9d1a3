#include "common/maildrop/address_list.hpp"

namespace upesi::maildrop {
namespace {

// One item of the list: the text in its last angle brackets, else the item without comments.
// A route ("@a,@b:user@c") is dropped from a bracketed address.
std::string addressOf(std::string_view item) {
  std::string bare;
  std::string bracketed;
  bool in_brackets = false;
  bool had_brackets = false;
  bool quoted = false;
  int comment = 0;
  for (std::size_t i = 0; i < item.size(); ++i) {
    const char c = item[i];
    std::string& out = in_brackets ? bracketed : bare;
    if (c == '\\' && (quoted || comment > 0) && i + 1 < item.size()) {
      if (quoted) {
        out += c;
        out += item[i + 1];
      }
      ++i;
      continue;
    }
    if (quoted) {
      out += c;
      quoted = c != '"';
      continue;
    }
    if (comment > 0) {
      comment += c == '(' ? 1 : c == ')' ? -1 : 0;
      continue;
    }
    if (c == '"') {
      quoted = true;
      out += c;
    } else if (c == '(') {
      comment = 1;
    } else if (c == '<' && !in_brackets) {
      in_brackets = true;
      had_brackets = true;
      bracketed.clear();
    } else if (c == '>' && in_brackets) {
      in_brackets = false;
    } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      out += c;
    }
  }
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
  bool quoted = false;
  bool in_brackets = false;
  int comment = 0;
  auto take = [&](std::size_t end) {
    std::string address = addressOf(value.substr(start, end - start));
    if (!address.empty() && out.size() < max) {
      out.push_back(std::move(address));
    }
    start = end + 1;
  };
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\' && (quoted || comment > 0)) {
      ++i;
      continue;
    }
    if (quoted) {
      quoted = c != '"';
      continue;
    }
    if (comment > 0) {
      comment += c == '(' ? 1 : c == ')' ? -1 : 0;
      continue;
    }
    if (c == '"') {
      quoted = true;
    } else if (c == '(') {
      comment = 1;
    } else if (c == '<') {
      in_brackets = true;
    } else if (c == '>') {
      in_brackets = false;
    } else if (!in_brackets && (c == ',' || c == ';')) {
      take(i);
    } else if (!in_brackets && c == ':') {
      start = i + 1; // a group's name: its members follow
    }
  }
  take(value.size());
  return out;
}

} // namespace upesi::maildrop
