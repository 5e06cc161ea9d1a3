#include "plugins/access/access_lists.hpp"

#include <upesi/text.hpp>

namespace upesi::plugins::access {

ExactList::ExactList(const std::vector<std::string>& entries, std::size_t max_entries) {
  for (const auto& entry : entries) {
    if (entries_.size() >= max_entries) {
      break;
    }
    entries_.insert(text::toLower(entry));
  }
}

bool ExactList::contains(std::string_view value) const {
  return !value.empty() && entries_.count(text::toLower(std::string(value))) > 0;
}

RegexList::RegexList(const std::vector<std::string>& patterns, std::size_t max_entries,
                     std::vector<Problem>& problems) {
  for (std::size_t i = 0; i < patterns.size() && entries_.size() < max_entries; ++i) {
    try {
      entries_.push_back({patterns[i], std::regex("^(" + patterns[i] + ")$",
                                                  std::regex::ECMAScript | std::regex::icase |
                                                      std::regex::optimize)});
    } catch (const std::regex_error& error) {
      problems.push_back({i, error.what()});
    }
  }
}

const std::string* RegexList::match(std::string_view value) const {
  for (const auto& entry : entries_) {
    if (std::regex_match(value.begin(), value.end(), entry.regex)) {
      return &entry.source;
    }
  }
  return nullptr;
}

std::size_t lineOf(std::string_view text, std::string_view entry) {
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    if (text::trim(line) == entry) {
      return number;
    }
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
  }
  return 0;
}

DomainList::DomainList(const std::vector<std::string>& entries, const OrgDomainOf& org_domain_of,
                       std::size_t max_entries) {
  std::vector<std::string> kept;
  for (const auto& entry : entries) {
    if (kept.size() >= max_entries) {
      break;
    }
    if (entry.empty()) {
      continue;
    }
    if (entry.front() == '!' || entry.find('@') != std::string::npos) {
      kept.push_back(entry);
      continue;
    }
    if (auto org = org_domain_of(entry); !org.empty()) {
      kept.push_back(std::move(org));
    }
  }
  entries_ = ExactList(kept, max_entries);
}

DomainList::Verdict DomainList::check(std::string_view address, std::string_view domain,
                                      std::string_view org_domain) const {
  auto whitelisted = [this](std::string_view value) {
    return !value.empty() && entries_.contains("!" + std::string(value));
  };
  if (whitelisted(address) || whitelisted(org_domain) || whitelisted(domain)) {
    return Verdict::Whitelisted;
  }
  return entries_.contains(org_domain) ? Verdict::Blacklisted : Verdict::Unlisted;
}

DomainList::Verdict DomainList::checkOrgDomain(std::string_view org_domain) const {
  if (!org_domain.empty() && entries_.contains("!" + std::string(org_domain))) {
    return Verdict::Whitelisted;
  }
  return entries_.contains(org_domain) ? Verdict::Blacklisted : Verdict::Unlisted;
}

} // namespace upesi::plugins::access
