// DNS answers from a table, for code that asks through a DnsLookup (dns::MxResolver) or a
// Host's dnsQuery. A question not in the table fails as a process without a resolver does.
// Held, the answers wait until answerNext(): a test sees which question is outstanding.
#pragma once

#include <upesi/dns.hpp>

#include "common/dns/mx_resolver.hpp"

#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace upesi::test {

class FakeDns {
public:
  void set(const std::string& name, DnsType type, DnsResult result) {
    answers_[{name, type}] = std::move(result);
  }
  void setAddresses(const std::string& name, DnsType type, std::vector<std::string> addresses) {
    DnsResult result{DnsStatus::Ok, "", {}};
    for (auto& address : addresses) {
      result.records.push_back({std::move(address), 0, 0});
    }
    set(name, type, std::move(result));
  }

  void hold() { held_ = true; }
  std::size_t outstanding() const { return waiting_.size(); }
  /// Answers the oldest question held.
  void answerNext() {
    auto [result, callback] = std::move(waiting_.front());
    waiting_.pop_front();
    callback(std::move(result));
  }

  void query(const std::string& name, DnsType type, DnsCallback callback) {
    asked.push_back(std::string(toString(type)) + " " + name);
    auto it = answers_.find({name, type});
    DnsResult result =
        it != answers_.end() ? it->second : DnsResult{DnsStatus::Error, "no resolver in tests", {}};
    if (held_) {
      waiting_.emplace_back(std::move(result), std::move(callback));
      return;
    }
    callback(std::move(result));
  }

  dns::DnsLookup lookup() {
    return [this](const std::string& name, DnsType type, DnsCallback callback) {
      query(name, type, std::move(callback));
    };
  }

  std::vector<std::string> asked; // "MX example.net", "AAAA mx.example.net", in order

private:
  std::map<std::pair<std::string, DnsType>, DnsResult> answers_;
  bool held_ = false;
  std::deque<std::pair<DnsResult, DnsCallback>> waiting_;
};

} // namespace upesi::test
