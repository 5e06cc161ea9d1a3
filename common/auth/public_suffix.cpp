#include "common/auth/public_suffix.hpp"

#include <upesi/text.hpp>

#include "common/auth/punycode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <vector>

namespace upesi::auth {
namespace {

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// The labels of a normalized domain, right to left positions kept as offsets: suffix(i) is the
// domain from label i on. Empty when a label is empty.
std::vector<std::size_t> labelStarts(std::string_view domain) {
  std::vector<std::size_t> starts;
  if (domain.empty()) {
    return starts;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = domain.find('.', start);
    const std::size_t end = dot == std::string_view::npos ? domain.size() : dot;
    if (end == start) {
      return {};
    }
    starts.push_back(start);
    if (dot == std::string_view::npos) {
      return starts;
    }
    start = dot + 1;
  }
}

} // namespace

std::string normalizeDomain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') {
    domain.remove_suffix(1);
  }
  return text::toLower(domain);
}

Result<PublicSuffixList> PublicSuffixList::load(const std::string& path,
                                                const PublicSuffixOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{fmt::format("{}: cannot open", path)};
  }
  std::string text;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > MaxPublicSuffixFile) {
      return Error{fmt::format("{}: larger than {} bytes", path, MaxPublicSuffixFile)};
    }
  }
  if (in.bad()) {
    return Error{fmt::format("{}: read error", path)};
  }
  return parse(text, path, options);
}

Result<PublicSuffixList> PublicSuffixList::parse(std::string_view text, std::string_view name,
                                                 const PublicSuffixOptions& options) {
  if (text.size() > MaxPublicSuffixFile) {
    return Error{fmt::format("{}: larger than {} bytes", name, MaxPublicSuffixFile)};
  }
  PublicSuffixList list;
  bool in_private = false;
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    ++line_number;
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.size() > MaxPublicSuffixLine) {
      return Error{fmt::format("{}:{}: a line longer than {} bytes", name, line_number,
                               MaxPublicSuffixLine)};
    }
    if (line.starts_with("//")) {
      if (line.find("===BEGIN PRIVATE DOMAINS===") != std::string_view::npos) {
        in_private = true;
      } else if (line.find("===END PRIVATE DOMAINS===") != std::string_view::npos ||
                 line.find("===BEGIN ICANN DOMAINS===") != std::string_view::npos) {
        in_private = false;
      }
      continue;
    }
    std::size_t rule_start = 0;
    while (rule_start < line.size() && isSpace(line[rule_start])) {
      ++rule_start;
    }
    std::size_t rule_end = rule_start;
    while (rule_end < line.size() && !isSpace(line[rule_end])) {
      ++rule_end;
    }
    std::string_view rule = line.substr(rule_start, rule_end - rule_start);
    if (rule.empty() || (in_private && !options.include_private)) {
      continue;
    }
    RuleSet* set = &list.exact_;
    std::size_t prefix_labels = 0;
    if (rule.starts_with('!')) {
      set = &list.exception_;
      rule.remove_prefix(1);
    } else if (rule.starts_with("*.")) {
      set = &list.wildcard_;
      rule.remove_prefix(2);
      prefix_labels = 1;
    }
    auto a_labels = toALabels(rule);
    if (!a_labels || labelStarts(*a_labels).empty() || a_labels->find('*') != std::string::npos) {
      return Error{fmt::format("{}:{}: not a rule: {}", name, line_number,
                               line.substr(rule_start, rule_end - rule_start))};
    }
    list.max_labels_ = std::max(list.max_labels_, labelStarts(*a_labels).size() + prefix_labels);
    set->insert(std::move(*a_labels));
  }
  return list;
}

std::optional<std::string> PublicSuffixList::publicSuffix(std::string_view domain) const {
  const std::string normalized = normalizeDomain(domain);
  const std::vector<std::size_t> starts = labelStarts(normalized);
  if (starts.empty()) {
    return std::nullopt;
  }
  const std::size_t count = starts.size();
  const std::string_view view = normalized;
  auto suffix = [&](std::size_t i) { return view.substr(starts[i]); };
  // No rule has more than max_labels_ labels: longer suffixes need no lookup.
  const std::size_t first = count > max_labels_ ? count - max_labels_ : 0;
  // An exception rule wins: the public suffix is the rule without its leftmost label.
  for (std::size_t i = first; i + 1 < count; ++i) {
    if (exception_.contains(suffix(i))) {
      return std::string(suffix(i + 1));
    }
  }
  std::size_t best = count - 1; // the default rule "*": the last label
  for (std::size_t i = first; i < count; ++i) {
    const std::string_view candidate = suffix(i);
    if (i < best && exact_.contains(candidate)) {
      best = i;
    }
    if (i > 0 && i - 1 < best && wildcard_.contains(candidate)) {
      best = i - 1;
    }
  }
  return std::string(suffix(best));
}

std::optional<std::string> PublicSuffixList::registrableDomain(std::string_view domain) const {
  auto suffix = publicSuffix(domain);
  if (!suffix) {
    return std::nullopt;
  }
  const std::string normalized = normalizeDomain(domain);
  if (normalized.size() == suffix->size()) {
    return std::nullopt;
  }
  // normalized ends in "." + suffix; take one label more.
  const std::size_t dot = normalized.size() - suffix->size() - 1;
  const std::size_t previous = normalized.rfind('.', dot - 1);
  return previous == std::string::npos ? normalized : normalized.substr(previous + 1);
}

std::string PublicSuffixList::organizationalDomain(std::string_view domain) const {
  const std::string normalized = normalizeDomain(domain);
  if (labelStarts(normalized).empty()) {
    return {};
  }
  auto registrable = registrableDomain(normalized);
  return registrable ? *registrable : normalized;
}

bool PublicSuffixList::hasRuleFor(std::string_view domain) const {
  const std::string normalized = normalizeDomain(domain);
  const std::vector<std::size_t> starts = labelStarts(normalized);
  const std::string_view view = normalized;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const std::string_view candidate = view.substr(starts[i]);
    if (exact_.contains(candidate) || exception_.contains(candidate) ||
        (i > 0 && wildcard_.contains(candidate))) {
      return true;
    }
  }
  return false;
}

} // namespace upesi::auth
