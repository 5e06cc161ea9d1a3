#include "plugins/headers/header_checks.hpp"

#include <upesi/text.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <utility>

namespace upesi::plugins::headers {
namespace {

bool isDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

int toInt(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

bool isWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

} // namespace

std::optional<std::int64_t> parseDate(std::string_view text) {
  if (text.size() > 200) {
    return std::nullopt;
  }
  std::vector<std::string> tokens;
  std::string current;
  int depth = 0;
  for (const char c : text) {
    if (c == '(') {
      ++depth;
    } else if (c == ')' && depth > 0) {
      --depth;
    } else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ',') {
      current += c;
      continue;
    }
    if (!current.empty()) {
      tokens.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) {
    tokens.push_back(std::move(current));
  }
  static const std::array<std::string_view, 7> days = {"mon", "tue", "wed", "thu",
                                                       "fri", "sat", "sun"};
  std::size_t i = 0;
  if (i < tokens.size() &&
      std::find(days.begin(), days.end(), text::toLower(tokens[i])) != days.end()) {
    ++i;
  }
  if (tokens.size() < i + 4) {
    return std::nullopt;
  }
  static const std::array<std::string_view, 12> months = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
  const auto& day = tokens[i];
  auto month_it = std::find(months.begin(), months.end(), text::toLower(tokens[i + 1]));
  const auto& year_text = tokens[i + 2];
  const auto& time_text = tokens[i + 3];
  if (!isDigits(day) || day.size() > 2 || month_it == months.end() || !isDigits(year_text) ||
      year_text.size() > 4) {
    return std::nullopt;
  }
  int year = toInt(year_text);
  if (year_text.size() == 2) {
    year += year < 50 ? 2000 : 1900;
  } else if (year_text.size() == 3) {
    year += 1900;
  }
  // hh:mm[:ss]
  int hms[3] = {0, 0, 0};
  std::size_t part = 0;
  std::string_view rest = time_text;
  while (part < 3) {
    auto colon = rest.find(':');
    auto piece = rest.substr(0, colon);
    if (!isDigits(piece) || piece.size() > 2) {
      return std::nullopt;
    }
    hms[part++] = toInt(piece);
    if (colon == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(colon + 1);
  }
  if (part < 2 || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 || toInt(day) < 1 || toInt(day) > 31) {
    return std::nullopt;
  }
  int offset_minutes = 0;
  if (tokens.size() > i + 4) {
    const auto zone = tokens[i + 4];
    if ((zone[0] == '+' || zone[0] == '-') && zone.size() == 5 && isDigits(zone.substr(1))) {
      int hhmm = toInt(zone.substr(1));
      offset_minutes = (hhmm / 100) * 60 + hhmm % 100;
      if (zone[0] == '-') {
        offset_minutes = -offset_minutes;
      }
    } else {
      static const std::array<std::pair<std::string_view, int>, 10> names = {{{"ut", 0},
                                                                              {"gmt", 0},
                                                                              {"est", -5},
                                                                              {"edt", -4},
                                                                              {"cst", -6},
                                                                              {"cdt", -5},
                                                                              {"mst", -7},
                                                                              {"mdt", -6},
                                                                              {"pst", -8},
                                                                              {"pdt", -7}}};
      auto z = text::toLower(zone);
      bool known = z == "z" || z == "utc";
      for (const auto& [name, hours] : names) {
        if (z == name) {
          offset_minutes = hours * 60;
          known = true;
        }
      }
      if (!known && !(z.size() == 1 && z[0] >= 'a' && z[0] <= 'z')) {
        return std::nullopt; // military zones are "-0000" (unknown) per RFC 5322 4.3
      }
    }
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = static_cast<int>(month_it - months.begin());
  tm.tm_mday = toInt(day);
  tm.tm_hour = hms[0];
  tm.tm_min = hms[1];
  tm.tm_sec = hms[2];
  std::time_t t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(t) - offset_minutes * 60;
}

std::vector<std::string> userAgents(const HeaderLookup& header) {
  // Thunderbird, Roundcube, Mutt (User-Agent); Apple Mail, Outlook 12-14 (X-Mailer); Yahoo;
  // Outlook 15 (X-MS-Has-Attach).
  static const std::array<std::string_view, 5> names = {
      "user-agent", "x-mailer", "x-mua", "x-yahoo-newman-property", "x-ms-has-attach"};
  std::vector<std::string> found;
  for (auto name : names) {
    auto value = header(name);
    if (!value.empty()) {
      found.push_back("UA(" + value.substr(0, 12) + ")");
    }
  }
  return found;
}

std::vector<std::string> mailingListManagers(const HeaderLookup& header) {
  std::vector<std::string> found;
  auto mailing_list = header("Mailing-List");
  if (!mailing_list.empty()) {
    for (auto mlm : {"ezmlm", "yahoogroups", "googlegroups"}) {
      if (containsNoCase(mailing_list, mlm)) {
        found.emplace_back(mlm);
      }
    }
  }
  if (header("Sender").rfind("owner-", 0) == 0) {
    found.emplace_back("majordomo");
  }
  if (!header("X-Mailman-Version").empty()) {
    found.emplace_back("mailman");
  }
  if (!header("X-Majordomo-Version").empty()) {
    found.emplace_back("majordomo");
  }
  if (!header("X-Google-Loop").empty()) {
    found.emplace_back("googlegroups");
  }
  return found;
}

std::string normalizeLookalikes(std::string_view text) {
  std::string out = upesi::text::toLower(text);
  for (char& c : out) {
    switch (c) {
    case '0':
      c = 'o';
      break;
    case '1':
      c = 'i';
      break;
    case '3':
      c = 'e';
      break;
    case '4':
      c = 'a';
      break;
    case '5':
    case '$':
      c = 's';
      break;
    case '7':
      c = 't';
      break;
    case '8':
      c = 'b';
      break;
    case ')':
      c = 'g';
      break;
    case '|':
      c = 'l';
      break;
    default:
      break;
    }
  }
  return out;
}

bool containsNoCase(std::string_view text, std::string_view needle) {
  if (needle.empty()) {
    return true;
  }
  const std::string haystack = upesi::text::toLower(text);
  return haystack.find(upesi::text::toLower(needle)) != std::string::npos;
}

bool containsWord(std::string_view text, std::string_view word) {
  if (word.empty()) {
    return false;
  }
  const std::string haystack = upesi::text::toLower(text);
  const std::string needle = upesi::text::toLower(word);
  auto boundary = [&haystack](std::size_t at) {
    const bool before = at > 0 && isWordChar(haystack[at - 1]);
    const bool after = at < haystack.size() && isWordChar(haystack[at]);
    return before != after;
  };
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    if (boundary(at) && boundary(at + needle.size())) {
      return true;
    }
  }
  return false;
}

} // namespace upesi::plugins::headers
