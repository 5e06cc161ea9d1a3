// limit.ini, as haraka-plugin-limit reads it: each section is off until `enabled=true`.
//
//   [main] tarpit_delay          seconds to wait before a refusal
//   [concurrency] max, lease     connections at once per client IP, across every node; each
//                                an entry living `lease` seconds (60) unless renewed
//   [recipients] max, max_relaying   RCPT attempts per connection
//   [unrecognized_commands] max  per connection, then 421 and close
//   [errors] max                 per connection (refused commands), then 421 and close
//   [rate_conn] [rate_rcpt_host] lookup = limit[/time[unit]] per client (IP prefixes, then rDNS
//                                suffixes, then `default`)
//   [rate_rcpt_sender] [rate_rcpt] [rate_rcpt_null]   the same per address (the whole address,
//                                then domain suffixes, then `default`)
//   [outbound] delay, lease, <domain>=N   deliveries at once to a destination domain, across
//                                every node; one more waits `delay` seconds (send_email DELAY)
//   [rate_outbound] <domain>=limit[/time]   deliveries per period to a domain (its parents,
//                                then `default`); one more waits out the period
//   [*_history] plugin, good, bad, none   the limit by another plugin's `history` result
//                                (karma's): above 0 good, below 0 bad, 0 none
//
// A limit of 0 turns that entry off. A time without unit is in seconds; without time, 60 s.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::plugins::limit {

struct RateSpec {
  long long limit = 0; // 0: unlimited
  long long window_s = 60;

  bool operator==(const RateSpec&) const = default;
};

/// "5", "50/5m", "10/90", "0": nullopt if it is none of these.
std::optional<RateSpec> parseRateSpec(std::string_view text);

struct History {
  bool enabled = false;
  std::string plugin = "karma";
  std::optional<RateSpec> good, bad, none;
};

/// The limit that applies, and the key it counts under.
struct RateMatch {
  std::string key;
  RateSpec spec;
};

struct RateTable {
  bool enabled = false;
  std::map<std::string, RateSpec> entries; // lower-case lookups, "default" among them
  History history;

  /// By client: its IP and IP prefixes, its rDNS name and domain suffixes, then history
  /// (`history_score`, when known), then default. The key is what matched (the IP for default
  /// and history). Nullopt when nothing applies.
  std::optional<RateMatch> forClient(const std::string& ip, const std::string& rdns,
                                     std::optional<double> history_score) const;
  /// By address: "user@example.com", then "example.com", "com", then default (the address
  /// is the key).
  std::optional<RateMatch> forAddress(const std::string& address) const;
  /// By domain: "mail.example.com", then "example.com", "com", then default (the domain is the
  /// key).
  std::optional<RateMatch> forDomain(const std::string& domain) const;
};

struct CountLimit {
  bool enabled = false;
  long long max = 0; // 0: unlimited
  History history;
};

/// [outbound]: deliveries in flight per destination domain.
struct OutboundLimit {
  bool enabled = false;
  long long delay_s = 30;               // how long a message over its domain's limit waits
  long long lease_s = 60;               // a delivery's entry lives this long unless renewed
  std::map<std::string, long long> max; // lower-case domain -> deliveries at once (0: none)

  /// The limit for `domain` (0: none). Only the domain itself, as Haraka: a limit for a
  /// provider is a limit for its domain, not for every subdomain.
  long long maxFor(const std::string& domain) const;
};

struct LimitConfig {
  long long tarpit_delay_s = 0;
  CountLimit concurrency;
  long long concurrency_lease_s = 60; // a connection's entry lives this long unless renewed
  CountLimit recipients;
  long long max_relaying = 0; // recipients for a relaying client (0: as max)
  CountLimit unrecognized_commands;
  CountLimit errors;
  RateTable rate_conn, rate_rcpt_host, rate_rcpt_sender, rate_rcpt, rate_rcpt_null;
  OutboundLimit outbound;
  RateTable rate_outbound;           // by destination domain
  std::vector<std::string> problems; // values that do not parse, "[section] key: why"

  bool needsRedis() const {
    return concurrency.enabled || rate_conn.enabled || rate_rcpt_host.enabled ||
           rate_rcpt_sender.enabled || rate_rcpt.enabled || rate_rcpt_null.enabled ||
           outbound.enabled || rate_outbound.enabled;
  }
};

/// The booleans of limit.ini, for the config reader.
const std::vector<std::string>& limitIniBooleans();

LimitConfig readLimitConfig(const nlohmann::json& ini);

/// The lookup forms of an IP, longest first: 192.0.2.1, 192.0.2, 192.0, 192; IPv6 written out
/// in full, without leading zeros (2001:db8:0:0:0:0:0:1, 2001:db8:0:0:0:0:0, ...).
std::vector<std::string> ipLookups(const std::string& ip);

/// The limit a history score gives (good above 0, bad below, none at 0).
std::optional<RateSpec> historyLimit(const History& history, std::optional<double> score);

} // namespace upesi::plugins::limit
