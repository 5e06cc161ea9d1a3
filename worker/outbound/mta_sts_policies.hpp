// MtaStsPolicies: the MTA-STS policy (RFC 8461) of each destination domain, for outbound
// delivery. A policy is fetched the first time a domain is mailed, kept for its max_age, and
// kept fresh in the background (RFC 8461 5.1): at most every `recheck` the TXT record's id is
// compared with the cached one, and a new id, or a policy past half its max_age, is fetched
// again; a fetch that fails keeps the cached policy. Policies are also written to files in
// `cache_dir` (one per domain, replaced whole) so that a restart or another worker starts
// from them. Deliveries asking for the same domain at once share one fetch.
//
// Memory is bounded: at most `max_domains` policies, the one used longest ago dropped first,
// and as many domains remembered for a while as having none.
//
// Threading: the loop thread; files are read and written on libuv's thread pool.
#pragma once

#include "common/dns/mx_resolver.hpp"
#include "common/mta_sts/policy.hpp"
#include "common/mta_sts/policy_fetch.hpp"

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace upesi::outbound {

struct StsEntry {
  std::string domain;
  std::string id;
  mta_sts::Policy policy;
  std::string text; ///< the policy file as fetched (what the cache file keeps)
  std::int64_t fetched_ms = 0;

  bool expired(std::int64_t now_ms) const {
    return now_ms >= fetched_ms + static_cast<std::int64_t>(policy.max_age) * 1000;
  }
};

class MtaStsPolicies {
public:
  struct Options {
    std::filesystem::path cache_dir; ///< empty: memory only
    std::chrono::seconds recheck{3600};
    /// A domain found without a policy (or whose policy could not be had) is not asked again
    /// for this long: deliveries to it cost no lookup and no file read meanwhile.
    std::chrono::seconds no_policy_for{300};
    std::size_t max_domains = 10000;
    mta_sts::FetchOptions fetch;
  };
  /// The policy text of a domain, or why none (tests replace the HTTPS fetch).
  using Fetch =
      std::function<void(const std::string& domain, std::function<void(Result<std::string>)>)>;
  /// The policy for a domain, null without one; `note` says why (for the log).
  using Done = std::function<void(std::shared_ptr<const StsEntry> entry, const std::string& note)>;

  /// `fetch` empty: mta_sts::fetchPolicyText with options.fetch.
  MtaStsPolicies(uv_loop_t* loop, Options options, dns::DnsLookup lookup, Fetch fetch = {});

  /// The policy of `domain` (lower case), on a later loop turn or at once from memory.
  void policyFor(const std::string& domain, Done done);

  std::size_t size() const { return entries_.size(); }
  /// Told of every policy that a domain announces but that cannot be had: its fetch failed
  /// (`invalid` false) or what came is no policy (true). For TLS reports.
  using FetchFailed =
      std::function<void(const std::string& domain, bool invalid, const std::string& why)>;
  void onFetchFailed(FetchFailed listener) { fetch_failed_ = std::move(listener); }

  /// The client context fetches use from now on (a reload's).
  void setTlsContext(std::shared_ptr<SSL_CTX> context) { options_.fetch.tls = std::move(context); }

private:
  struct Slot {
    std::shared_ptr<const StsEntry> entry;
    std::int64_t checked_ms = 0; ///< the TXT id last compared
    std::int64_t used_ms = 0;
    bool refreshing = false;
  };

  /// No policy in memory: the cache file, then the network; the waiters of `domain` get it.
  void load(const std::string& domain);
  void fetchNow(const std::string& domain, std::shared_ptr<const StsEntry> fallback);
  void refresh(const std::string& domain);
  /// Fetches the policy of `domain` whose TXT id is `id`; `then(entry or null, why)`.
  void fetchPolicy(const std::string& domain, const std::string& id,
                   std::function<void(std::shared_ptr<const StsEntry>, std::string)> then);
  void store(const std::shared_ptr<const StsEntry>& entry, bool write_file);
  void rememberNoPolicy(const std::string& domain);
  void answer(const std::string& domain, const std::shared_ptr<const StsEntry>& entry,
              const std::string& note);
  std::filesystem::path fileOf(const std::string& domain) const;

  uv_loop_t* loop_;
  Options options_;
  dns::DnsLookup lookup_;
  Fetch fetch_;
  FetchFailed fetch_failed_;
  std::unordered_map<std::string, Slot> entries_;
  std::unordered_map<std::string, std::vector<Done>> waiters_;    // domains being loaded
  std::unordered_map<std::string, std::int64_t> no_policy_until_; // at most max_domains
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

public:
  ~MtaStsPolicies() { *alive_ = false; }
  MtaStsPolicies(const MtaStsPolicies&) = delete;
  MtaStsPolicies& operator=(const MtaStsPolicies&) = delete;
};

/// A cached policy as its file holds it (JSON), and back; nullopt for a file that is not one.
std::string stsEntryToJson(const StsEntry& entry);
std::optional<StsEntry> stsEntryFromJson(const std::string& text);

} // namespace upesi::outbound
