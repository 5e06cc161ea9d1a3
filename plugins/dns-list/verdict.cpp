#include "plugins/dns-list/verdict.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace upesi::plugins::dns_list {
namespace {

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

const ZoneAnswer* answerFor(const ZoneAnswers& answers, const std::string& zone, bool complete,
                            ZoneAnswer& missing) {
  if (auto found = answers.find(zone); found != answers.end()) {
    return &found->second;
  }
  if (!complete) {
    return nullptr;
  }
  missing = ZoneAnswer{ZoneAnswer::Status::Error, {}, "no answer", 0};
  return &missing;
}

} // namespace

Verdict evaluate(const Settings& settings, const std::set<std::string>& consulted,
                 const ZoneAnswers& answers, bool complete) {
  Verdict verdict;
  std::vector<std::string> allowed;
  std::vector<std::string> rejectable;
  std::vector<std::string> failed_lookups;
  auto decide = [&verdict](Verdict::Action action, std::vector<std::string> zones) {
    verdict.decided = true;
    verdict.action = action;
    verdict.zones = std::move(zones);
    return verdict;
  };
  auto recordError = [&](const std::string& zone, const ZoneAnswer& answer) {
    if (!contains(failed_lookups, zone)) {
      failed_lookups.push_back(zone);
      verdict.results.push_back({"err", fmt::format("{}: {}", zone, answer.error)});
    }
  };

  for (const auto& zone : settings.zones) {
    if (consulted.count(zone.name) == 0) {
      continue;
    }
    ZoneAnswer missing;
    const ZoneAnswer* answer = answerFor(answers, zone.name, complete, missing);
    if (answer == nullptr) {
      if (settings.search_first) {
        return verdict; // an earlier zone decides before a later one
      }
      continue;
    }
    if (answer->status == ZoneAnswer::Status::Error) {
      recordError(zone.name, *answer);
      continue;
    }
    if (answer->status == ZoneAnswer::Status::Unlisted) {
      if (zone.type == ListType::Block) {
        verdict.results.push_back({"pass", zone.name});
      }
      continue;
    }
    for (const auto& address : answer->addresses) {
      if (auto description = zone.descriptions.find(address);
          description != zone.descriptions.end()) {
        verdict.results.push_back({"msg", description->second});
      }
    }
    const auto& listed = answer->addresses;
    bool fails = false;
    if (zone.type == ListType::Allow) {
      verdict.results.push_back({"pass", zone.name});
      allowed.push_back(zone.name);
      if (settings.search_first) {
        return decide(Verdict::Action::Accept, {zone.name});
      }
    } else if (zone.type == ListType::Karma) {
      if (contains(listed, "127.0.0.1")) {
        verdict.results.push_back({"pass", zone.name});
      } else if (contains(listed, "127.0.0.2")) {
        fails = true;
      } else {
        verdict.results.push_back({"msg", zone.name});
      }
    } else {
      fails = true;
    }
    if (fails) {
      verdict.results.push_back({"fail", zone.name});
      if (zone.reject) {
        rejectable.push_back(zone.name);
        if (settings.search_first) {
          return decide(Verdict::Action::Reject, {zone.name});
        }
      }
    }
  }

  for (const auto& site : settings.weighted.sites) {
    if (consulted.count(site.zone) > 0 && answers.count(site.zone) == 0 && !complete) {
      return verdict; // the score needs every entry's answer
    }
  }
  if (!complete && !settings.search_first) {
    for (const auto& zone : consulted) {
      if (answers.count(zone) == 0) {
        return verdict;
      }
    }
  }
  if (!allowed.empty()) {
    return decide(Verdict::Action::Accept, allowed);
  }
  if (!rejectable.empty()) {
    return decide(Verdict::Action::Reject, rejectable);
  }

  if (!settings.weighted.sites.empty()) {
    long long score = 0;
    std::vector<std::string> allowing;
    for (const auto& site : settings.weighted.sites) {
      if (consulted.count(site.zone) == 0) {
        continue;
      }
      ZoneAnswer missing;
      const ZoneAnswer* answer = answerFor(answers, site.zone, true, missing);
      if (answer->status == ZoneAnswer::Status::Error) {
        recordError(site.zone, *answer);
        continue;
      }
      if (answer->status != ZoneAnswer::Status::Listed || !siteMatches(site, answer->addresses)) {
        continue;
      }
      score += site.weight;
      if (site.weight > 0) {
        verdict.results.push_back({"fail", site.zone});
        if (!contains(verdict.weighted_zones, site.zone)) {
          verdict.weighted_zones.push_back(site.zone);
        }
      } else if (site.weight < 0) {
        verdict.results.push_back({"pass", site.zone});
        allowing.push_back(site.zone);
      }
    }
    verdict.score = score;
    if (score >= settings.weighted.threshold) {
      verdict.weighted_block = true;
    } else if (settings.weighted.allow_threshold < 0 &&
               score <= settings.weighted.allow_threshold) {
      return decide(Verdict::Action::Accept, allowing);
    }
  }

  if (!failed_lookups.empty() && settings.defer_on_error && !verdict.weighted_block) {
    return decide(Verdict::Action::Defer, failed_lookups);
  }
  verdict.decided = true;
  return verdict;
}

} // namespace upesi::plugins::dns_list
