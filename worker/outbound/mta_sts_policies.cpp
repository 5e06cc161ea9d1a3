#include "worker/outbound/mta_sts_policies.hpp"

#include "common/util/clock.hpp"
#include "common/util/thread_pool.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace upesi::outbound {

std::string stsEntryToJson(const StsEntry& entry) {
  return nlohmann::json{{"domain", entry.domain},
                        {"id", entry.id},
                        {"fetched_ms", entry.fetched_ms},
                        {"policy", entry.text}}
      .dump();
}

std::optional<StsEntry> stsEntryFromJson(const std::string& text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_object() || !json.contains("domain") || !json["domain"].is_string() ||
      !json.contains("id") || !json["id"].is_string() || !json.contains("fetched_ms") ||
      !json["fetched_ms"].is_number_integer() || !json.contains("policy") ||
      !json["policy"].is_string()) {
    return std::nullopt;
  }
  StsEntry entry;
  entry.domain = json["domain"].get<std::string>();
  entry.id = json["id"].get<std::string>();
  entry.fetched_ms = json["fetched_ms"].get<std::int64_t>();
  entry.text = json["policy"].get<std::string>();
  auto policy = mta_sts::parsePolicy(entry.text);
  if (!policy) {
    return std::nullopt;
  }
  entry.policy = std::move(*policy);
  return entry;
}

MtaStsPolicies::MtaStsPolicies(uv_loop_t* loop, Options options, dns::DnsLookup lookup, Fetch fetch)
    : loop_(loop), options_(std::move(options)), lookup_(std::move(lookup)),
      fetch_(std::move(fetch)) {
  if (!fetch_) {
    // Called only from this object's own members: `this` is alive.
    fetch_ = [this](const std::string& domain, std::function<void(Result<std::string>)> done) {
      mta_sts::fetchPolicyText(loop_, lookup_, domain, options_.fetch, std::move(done));
    };
  }
}

std::filesystem::path MtaStsPolicies::fileOf(const std::string& domain) const {
  // A domain name is letters, digits, '-' and '.': a safe file name as it is.
  return options_.cache_dir / (domain + ".json");
}

void MtaStsPolicies::policyFor(const std::string& domain, Done done) {
  const std::int64_t now = epochMs();
  if (auto it = entries_.find(domain); it != entries_.end()) {
    Slot& slot = it->second;
    if (!slot.entry->expired(now)) {
      slot.used_ms = now;
      auto entry = slot.entry;
      if (!slot.refreshing && now - slot.checked_ms >= options_.recheck.count() * 1000) {
        refresh(domain);
      }
      done(entry, "cached");
      return;
    }
  }
  if (auto none = no_policy_until_.find(domain); none != no_policy_until_.end()) {
    if (now < none->second) {
      done(nullptr, "no policy (known)");
      return;
    }
    no_policy_until_.erase(none);
  }
  auto& waiting = waiters_[domain];
  waiting.push_back(std::move(done));
  if (waiting.size() == 1) {
    load(domain);
  }
}

void MtaStsPolicies::answer(const std::string& domain, const std::shared_ptr<const StsEntry>& entry,
                            const std::string& note) {
  auto it = waiters_.find(domain);
  if (it == waiters_.end()) {
    return;
  }
  auto waiting = std::move(it->second);
  waiters_.erase(it);
  if (!entry) {
    rememberNoPolicy(domain);
  }
  for (auto& done : waiting) {
    done(entry, note);
  }
}

void MtaStsPolicies::rememberNoPolicy(const std::string& domain) {
  const std::int64_t now = epochMs();
  if (no_policy_until_.size() >= options_.max_domains) {
    std::erase_if(no_policy_until_, [now](const auto& e) { return e.second <= now; });
    if (no_policy_until_.size() >= options_.max_domains) {
      no_policy_until_.erase(no_policy_until_.begin());
    }
  }
  no_policy_until_[domain] = now + options_.no_policy_for.count() * 1000;
}

void MtaStsPolicies::load(const std::string& domain) {
  if (auto it = entries_.find(domain); it != entries_.end()) {
    // In memory but expired: fetch again, the expired one is no fallback (RFC 8461 5.1).
    entries_.erase(it);
    fetchNow(domain, nullptr);
    return;
  }
  if (options_.cache_dir.empty()) {
    fetchNow(domain, nullptr);
    return;
  }
  auto found = std::make_shared<std::optional<StsEntry>>();
  const auto path = fileOf(domain);
  runOnThreadPool(
      loop_,
      [found, path] {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
          return;
        }
        std::stringstream text;
        text << in.rdbuf();
        *found = stsEntryFromJson(text.str());
      },
      [this, alive = alive_, found, domain] {
        if (!*alive) {
          return;
        }
        if (*found && (*found)->domain == domain && !(*found)->expired(epochMs())) {
          auto entry = std::make_shared<const StsEntry>(std::move(**found));
          store(entry, false);
          // Checked against DNS at once, in the background: the file may be old.
          entries_[domain].checked_ms = 0;
          answer(domain, entry, "cache file");
          refresh(domain);
          return;
        }
        fetchNow(domain, nullptr);
      });
}

void MtaStsPolicies::fetchNow(const std::string& domain, std::shared_ptr<const StsEntry> fallback) {
  mta_sts::lookupRecord(lookup_, domain,
                        [this, alive = alive_, domain, fallback](mta_sts::RecordAnswer record) {
                          if (!*alive) {
                            return;
                          }
                          if (!record.id) {
                            answer(domain, fallback, record.error);
                            return;
                          }
                          fetchPolicy(domain, *record.id,
                                      [this, alive, domain, fallback](
                                          std::shared_ptr<const StsEntry> entry, std::string why) {
                                        if (!*alive) {
                                          return;
                                        }
                                        answer(domain, entry ? entry : fallback, why);
                                      });
                        });
}

void MtaStsPolicies::fetchPolicy(
    const std::string& domain, const std::string& id,
    std::function<void(std::shared_ptr<const StsEntry>, std::string)> then) {
  fetch_(domain, [this, alive = alive_, domain, id,
                  then = std::move(then)](Result<std::string> text) mutable {
    if (!*alive) {
      return;
    }
    if (!text) {
      if (fetch_failed_) {
        fetch_failed_(domain, false, text.error());
      }
      then(nullptr, fmt::format("MTA-STS policy of {} not fetched: {}", domain, text.error()));
      return;
    }
    auto policy = mta_sts::parsePolicy(*text);
    if (!policy) {
      if (fetch_failed_) {
        fetch_failed_(domain, true, policy.error());
      }
      then(nullptr, fmt::format("MTA-STS policy of {} is not valid: {}", domain, policy.error()));
      return;
    }
    auto entry = std::make_shared<StsEntry>();
    entry->domain = domain;
    entry->id = id;
    entry->policy = std::move(*policy);
    entry->text = std::move(*text);
    entry->fetched_ms = epochMs();
    store(entry, true);
    then(entry, fmt::format("fetched (id {})", id));
  });
}

void MtaStsPolicies::refresh(const std::string& domain) {
  if (auto found = entries_.find(domain); found != entries_.end()) {
    found->second.refreshing = true;
  } else {
    return;
  }
  mta_sts::lookupRecord(
      lookup_, domain, [this, alive = alive_, domain](mta_sts::RecordAnswer record) {
        if (!*alive) {
          return;
        }
        auto it = entries_.find(domain);
        if (it == entries_.end()) {
          return;
        }
        Slot& slot = it->second;
        const std::int64_t now = epochMs();
        if (!record.id) {
          // No record now (or DNS failed): the cached policy stands until it expires (RFC 8461
          // 5.1: a policy is only replaced by a newer one, never withdrawn by DNS alone).
          slot.checked_ms = now;
          slot.refreshing = false;
          return;
        }
        const bool aged = now - slot.entry->fetched_ms >=
                          static_cast<std::int64_t>(slot.entry->policy.max_age) * 500;
        if (*record.id == slot.entry->id && !aged) {
          slot.checked_ms = now;
          slot.refreshing = false;
          return;
        }
        fetchPolicy(domain, *record.id,
                    // A new policy is stored by fetchPolicy; a failed fetch keeps the old one.
                    [this, alive, domain](const std::shared_ptr<const StsEntry>&, std::string) {
                      if (!*alive) {
                        return;
                      }
                      if (auto again = entries_.find(domain); again != entries_.end()) {
                        again->second.refreshing = false;
                        again->second.checked_ms = epochMs();
                      }
                    });
      });
}

void MtaStsPolicies::store(const std::shared_ptr<const StsEntry>& entry, bool write_file) {
  const std::int64_t now = epochMs();
  if (!entries_.contains(entry->domain) && entries_.size() >= options_.max_domains &&
      !entries_.empty()) {
    auto oldest =
        std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
          return a.second.used_ms < b.second.used_ms;
        });
    entries_.erase(oldest);
  }
  no_policy_until_.erase(entry->domain);
  Slot& slot = entries_[entry->domain];
  slot.entry = entry;
  slot.checked_ms = now;
  slot.used_ms = now;
  if (!write_file || options_.cache_dir.empty()) {
    return;
  }
  const auto path = fileOf(entry->domain);
  const auto dir = options_.cache_dir;
  std::string text = stsEntryToJson(*entry);
  runOnThreadPool(
      loop_,
      [path, dir, text = std::move(text)] {
        // Written whole under a name of this process, then renamed: a reader never sees half.
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        const auto temp = path.string() + fmt::format(".{}.tmp", ::getpid());
        {
          std::ofstream out(temp, std::ios::binary | std::ios::trunc);
          out << text;
          if (!out.flush()) {
            std::filesystem::remove(temp, ec);
            return;
          }
        }
        std::filesystem::rename(temp, path, ec);
        if (ec) {
          std::filesystem::remove(temp, ec);
        }
      },
      [] {});
}

} // namespace upesi::outbound
