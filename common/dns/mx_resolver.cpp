#include "common/dns/mx_resolver.hpp"

#include <upesi/text.hpp>

#include "common/util/ip_literal.hpp"
#include "common/util/local_address.hpp"

#include <fmt/format.h>

#include <memory>

namespace upesi::dns {
namespace {

// The addresses of MX hosts, one host after the other.
struct TargetsJob {
  DnsLookup lookup;
  std::vector<MxHost> hosts;
  TargetRules rules;
  std::function<void(MxTargets)> done;
  std::size_t index = 0;
  MxTargets result;

  void add(const MxHost& host, const std::string& ip) {
    if (rules.skip_local && (isNonPublicAddress(ip) || isThisHostAddress(ip))) {
      result.skipped.push_back({host, ip});
      return;
    }
    result.targets.push_back({host, ip});
  }
};

std::vector<std::string> addressesOf(const DnsResult& answer) {
  std::vector<std::string> out;
  if (answer.status == DnsStatus::Ok) {
    for (const auto& record : answer.records) {
      out.push_back(record.value);
    }
  }
  return out;
}

void nextHost(const std::shared_ptr<TargetsJob>& job);

void lookupA(const std::shared_ptr<TargetsJob>& job, std::vector<std::string> v6) {
  const std::string name = job->hosts[job->index].exchange;
  job->lookup(name, DnsType::A, [job, v6 = std::move(v6)](DnsResult a) {
    const MxHost& host = job->hosts[job->index];
    for (const auto& ip : v6) {
      job->add(host, ip);
    }
    for (const auto& ip : addressesOf(a)) {
      job->add(host, ip);
    }
    if (a.status != DnsStatus::Ok && v6.empty()) {
      job->result.error = fmt::format("MX {}: {}", host.exchange, a.error);
    }
    ++job->index;
    nextHost(job);
  });
}

void nextHost(const std::shared_ptr<TargetsJob>& job) {
  while (job->index < job->hosts.size() && isIpLiteral(job->hosts[job->index].exchange)) {
    job->add(job->hosts[job->index], job->hosts[job->index].exchange);
    ++job->index;
  }
  if (job->index >= job->hosts.size()) {
    auto done = std::move(job->done);
    done(std::move(job->result));
    return;
  }
  if (!job->rules.ipv6) {
    lookupA(job, {});
    return;
  }
  const std::string name = job->hosts[job->index].exchange;
  job->lookup(name, DnsType::Aaaa, [job](DnsResult aaaa) { lookupA(job, addressesOf(aaaa)); });
}

} // namespace

MxResolver::MxResolver(DnsLookup lookup) : lookup_(std::move(lookup)) {}

void MxResolver::lookupMx(const std::string& domain, std::function<void(MxPlan)> done) const {
  lookup_(domain, DnsType::Mx, [domain, done = std::move(done)](DnsResult answer) {
    done(planFromMxAnswer(domain, answer));
  });
}

void MxResolver::lookupTargets(std::vector<MxHost> hosts, TargetRules rules,
                               std::function<void(MxTargets)> done) const {
  auto job = std::make_shared<TargetsJob>();
  job->lookup = lookup_;
  job->hosts = std::move(hosts);
  job->rules = rules;
  job->done = std::move(done);
  nextHost(job);
}

void MxResolver::lookupNextHop(const std::string& host,
                               std::function<void(Result<std::string>)> done) const {
  if (isIpLiteral(host)) {
    done(host);
    return;
  }
  if (text::toLower(host) == "localhost") {
    done(std::string("127.0.0.1"));
    return;
  }
  lookup_(host, DnsType::A, [lookup = lookup_, host, done = std::move(done)](DnsResult a) mutable {
    if (a.status == DnsStatus::Ok && !a.records.empty()) {
      done(a.records.front().value);
      return;
    }
    lookup(host, DnsType::Aaaa, [a, done = std::move(done)](DnsResult aaaa) {
      if (aaaa.status == DnsStatus::Ok && !aaaa.records.empty()) {
        done(aaaa.records.front().value);
        return;
      }
      const std::string error = a.error.empty() ? aaaa.error : a.error;
      done(Error{error.empty() ? "no address" : error});
    });
  });
}

} // namespace upesi::dns
