#include "plugins/dns-list/weighted_sites.hpp"

#include <upesi/text.hpp>

#include <fmt/format.h>

#include <charconv>

namespace upesi::plugins::dns_list {
namespace {

std::optional<unsigned> octet(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 255) {
    return std::nullopt;
  }
  return value;
}

// "7", or "[1;3..5]": one or more ';'-separated numbers or number..number ranges.
std::optional<std::vector<OctetRange>> octetPattern(std::string_view text) {
  if (text.empty() || text.front() != '[') {
    auto value = octet(text);
    if (!value) {
      return std::nullopt;
    }
    return std::vector<OctetRange>{{*value, *value}};
  }
  if (text.size() < 3 || text.back() != ']') {
    return std::nullopt;
  }
  std::vector<OctetRange> ranges;
  for (const auto& part : text::splitList(text.substr(1, text.size() - 2), ";")) {
    std::string_view item = part;
    auto dots = item.find("..");
    auto low = octet(item.substr(0, dots));
    auto high = dots == std::string_view::npos ? low : octet(item.substr(dots + 2));
    if (!low || !high || *low > *high) {
      return std::nullopt;
    }
    ranges.push_back({*low, *high});
  }
  if (ranges.empty()) {
    return std::nullopt;
  }
  return ranges;
}

// Four octet patterns separated by dots; dots inside [] belong to ranges.
std::optional<AnswerFilter> parseFilter(std::string_view text) {
  AnswerFilter filter;
  std::size_t index = 0;
  std::size_t start = 0;
  bool in_brackets = false;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : '.';
    if (c == '[') {
      in_brackets = true;
    } else if (c == ']') {
      in_brackets = false;
    } else if (c == '.' && !in_brackets) {
      if (index == filter.size()) {
        return std::nullopt;
      }
      auto pattern = octetPattern(text.substr(start, i - start));
      if (!pattern) {
        return std::nullopt;
      }
      filter[index++] = std::move(*pattern);
      start = i + 1;
    }
  }
  if (index != filter.size()) {
    return std::nullopt;
  }
  return filter;
}

bool isZoneName(std::string_view zone) {
  if (zone.empty() || zone.size() > 253 || zone.front() == '.' || zone.back() == '.') {
    return false;
  }
  for (char c : zone) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    if (!ok) {
      return false;
    }
  }
  return zone.find("..") == std::string_view::npos;
}

} // namespace

std::optional<WeightedSite> parseWeightedSite(std::string_view entry, std::string& error) {
  WeightedSite site;
  site.text = std::string(entry);
  std::string_view rest = entry;
  if (auto star = rest.rfind('*'); star != std::string_view::npos) {
    std::string_view weight = rest.substr(star + 1);
    int value = 0;
    auto [end, ec] = std::from_chars(weight.data(), weight.data() + weight.size(), value);
    if (weight.empty() || ec != std::errc() || end != weight.data() + weight.size()) {
      error = fmt::format("\"{}\": the weight \"{}\" is not a whole number", entry, weight);
      return std::nullopt;
    }
    site.weight = value;
    rest = rest.substr(0, star);
  }
  if (auto equals = rest.find('='); equals != std::string_view::npos) {
    auto filter = parseFilter(rest.substr(equals + 1));
    if (!filter) {
      error = fmt::format("\"{}\": the filter \"{}\" is not d.d.d.d with numbers 0-255 or "
                          "[n;n..m] patterns",
                          entry, rest.substr(equals + 1));
      return std::nullopt;
    }
    site.filter = std::move(*filter);
    rest = rest.substr(0, equals);
  }
  if (!isZoneName(rest)) {
    error = fmt::format("\"{}\": \"{}\" is not a DNS zone name", entry, rest);
    return std::nullopt;
  }
  site.zone = text::toLower(rest);
  return site;
}

bool filterMatches(const AnswerFilter& filter, std::string_view address) {
  std::size_t index = 0;
  for (const auto& part : text::splitList(address, ".")) {
    auto value = octet(part);
    if (index == filter.size() || !value) {
      return false;
    }
    bool inside = false;
    for (const auto& range : filter[index]) {
      inside = inside || (*value >= range.low && *value <= range.high);
    }
    if (!inside) {
      return false;
    }
    ++index;
  }
  return index == filter.size();
}

bool siteMatches(const WeightedSite& site, const std::vector<std::string>& addresses) {
  for (const auto& address : addresses) {
    if (!site.filter || filterMatches(*site.filter, address)) {
      return true;
    }
  }
  return false;
}

} // namespace upesi::plugins::dns_list
