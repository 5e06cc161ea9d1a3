#include "common/auth/spf_check.hpp"

#include <upesi/text.hpp>

#include "common/auth/spf_macro.hpp"
#include "common/util/ascii.hpp"
#include "common/util/cidr.hpp"

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace upesi::spf {
namespace {

// RFC 7208 section 4.3: a name we may look up at all.
bool isUsableDomain(std::string_view name) {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  if (name.empty() || name.size() > MaxDomainLength || name.find('.') == std::string_view::npos) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string_view::npos) {
      end = name.size();
    }
    if (end == start || end - start > 63) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

std::string withoutTrailingDot(std::string name) {
  if (!name.empty() && name.back() == '.') {
    name.pop_back();
  }
  return name;
}

bool isVoid(const DnsResult& result) {
  return result.status == DnsStatus::NxDomain || result.status == DnsStatus::NoData ||
         (result.status == DnsStatus::Ok && result.records.empty());
}

bool isDnsError(const DnsResult& result) {
  return result.status != DnsStatus::Ok && !isVoid(result);
}

CheckResult resultOf(Qualifier qualifier) {
  switch (qualifier) {
  case Qualifier::Pass:
    return CheckResult::Pass;
  case Qualifier::Fail:
    return CheckResult::Fail;
  case Qualifier::SoftFail:
    return CheckResult::SoftFail;
  case Qualifier::Neutral:
    return CheckResult::Neutral;
  }
  return CheckResult::Neutral;
}

// `name` is `domain` or one of its subdomains.
bool isWithin(std::string_view name, std::string_view domain) {
  if (name.size() == domain.size()) {
    return text::equalsIgnoreCase(name, domain);
  }
  return name.size() > domain.size() && name[name.size() - domain.size() - 1] == '.' &&
         text::equalsIgnoreCase(name.substr(name.size() - domain.size()), domain);
}

class Evaluation : public std::enable_shared_from_this<Evaluation> {
public:
  Evaluation(CheckRequest request, DnsLookup lookup, std::function<void(CheckOutcome)> done,
             CheckLimits limits)
      : request_(std::move(request)), lookup_(std::move(lookup)), done_(std::move(done)),
        limits_(limits) {}

  void start() {
    outcome_.domain = withoutTrailingDot(request_.domain);
    client_ = util::IpAddress::parse(request_.client_ip);
    if (!client_) {
      finish(CheckResult::PermError,
             fmt::format("client address {} is not an IP address", request_.client_ip));
      return;
    }
    if (!isUsableDomain(outcome_.domain)) {
      finish(CheckResult::None, fmt::format("{} is not a domain SPF can check", outcome_.domain));
      return;
    }
    auto sender = request_.sender;
    auto at = sender.rfind('@');
    local_part_ = at == std::string::npos || at == 0 ? "postmaster" : sender.substr(0, at);
    sender_domain_ = at == std::string::npos ? outcome_.domain : sender.substr(at + 1);
    fetchRecord(outcome_.domain, [self = shared_from_this()](std::optional<Record> record) {
      if (!record) {
        self->finish(CheckResult::None, fmt::format("no SPF record at {}", self->outcome_.domain));
        return;
      }
      self->frames_.push_back(Frame{self->outcome_.domain, std::move(*record)});
      self->step();
    });
  }

private:
  struct Frame {
    std::string domain;
    Record record;
    std::size_t next = 0; // the mechanism to evaluate next
  };

  using RecordFound = std::function<void(std::optional<Record>)>;
  using Expanded = std::function<void(std::string)>;

  // The SPF record of `domain`; nullopt when it has none. DNS errors and bad records finish.
  void fetchRecord(const std::string& domain, RecordFound found) {
    if (!isUsableDomain(domain)) {
      found(std::nullopt);
      return;
    }
    query(domain, DnsType::Txt,
          [self = shared_from_this(), domain, found = std::move(found)](DnsResult answer) {
            if (isDnsError(answer)) {
              self->finish(CheckResult::TempError,
                           fmt::format("DNS error looking up TXT {}: {}", domain, answer.error));
              return;
            }
            std::vector<std::string> texts;
            for (auto& record : answer.records) {
              texts.push_back(std::move(record.value));
            }
            auto selection = selectRecord(texts);
            if (selection.outcome == RecordSelection::Outcome::PermError) {
              self->finish(CheckResult::PermError,
                           fmt::format("{} at {}", selection.permerror, domain));
              return;
            }
            if (selection.outcome == RecordSelection::Outcome::None) {
              found(std::nullopt);
              return;
            }
            auto parse = parseRecord(selection.record);
            if (!parse.ok()) {
              self->finish(CheckResult::PermError,
                           fmt::format("bad SPF record at {}: {}", domain, parse.permerror));
              return;
            }
            found(std::move(parse.record));
          });
  }

  // A lookup that counts void answers; past the limit the evaluation finishes and `callback`
  // is not called.
  void query(const std::string& name, DnsType type, DnsCallback callback) {
    lookup_(
        name, type,
        [self = shared_from_this(), name, type, callback = std::move(callback)](DnsResult answer) {
          if (self->finished_) {
            return;
          }
          if (isVoid(answer) && ++self->outcome_.void_lookups > self->limits_.void_lookups) {
            self->finish(CheckResult::PermError,
                         fmt::format("more than {} void lookups (the last: {} {})",
                                     self->limits_.void_lookups, toString(type), name));
            return;
          }
          callback(std::move(answer));
        });
  }

  bool countLookup(const Mechanism* mechanism) {
    if (++outcome_.lookups <= limits_.lookups) {
      return true;
    }
    finish(CheckResult::PermError,
           fmt::format("more than {} DNS-querying terms (at {})", limits_.lookups,
                       mechanism != nullptr ? writeMechanism(*mechanism) : "redirect"));
    return false;
  }

  MacroInputs macroInputs() const {
    MacroInputs inputs;
    inputs.sender = local_part_ + "@" + sender_domain_;
    inputs.local_part = local_part_;
    inputs.sender_domain = sender_domain_;
    inputs.domain = frames_.empty() ? outcome_.domain : frames_.back().domain;
    inputs.client_ip = request_.client_ip;
    inputs.helo = request_.helo;
    inputs.receiver = request_.receiver.empty() ? "unknown" : request_.receiver;
    inputs.timestamp = request_.now;
    return inputs;
  }

  static bool usesValidatedName(std::string_view spec) {
    for (std::size_t at = spec.find("%{"); at != std::string_view::npos;
         at = spec.find("%{", at + 2)) {
      if (at + 2 < spec.size() && (spec[at + 2] == 'p' || spec[at + 2] == 'P')) {
        return true;
      }
    }
    return false;
  }

  // Expands `spec` (empty: the current domain); the p macro needs validated names first.
  void expand(const std::string& spec, MacroContext context, Expanded expanded) {
    if (spec.empty()) {
      expanded(frames_.back().domain);
      return;
    }
    auto finishExpansion = [self = shared_from_this(), spec, context,
                            expanded = std::move(expanded)](std::string validated_name) {
      auto inputs = self->macroInputs();
      inputs.validated_name = std::move(validated_name);
      auto expansion = expandMacros(spec, inputs, context);
      if (!expansion.ok()) {
        self->finish(CheckResult::PermError, expansion.permerror);
        return;
      }
      expanded(context == MacroContext::DomainSpec ? withoutTrailingDot(std::move(expansion.text))
                                                   : std::move(expansion.text));
    };
    if (!usesValidatedName(spec)) {
      finishExpansion("unknown");
      return;
    }
    validatedNames(
        [self = shared_from_this(), finishExpansion](const std::vector<std::string>& names) {
          // RFC 7208 section 7.3: prefer the domain itself, then a subdomain of it.
          const std::string& domain = self->frames_.back().domain;
          std::string chosen = "unknown";
          for (const auto& name : names) {
            if (text::equalsIgnoreCase(name, domain)) {
              chosen = name;
              break;
            }
            if (chosen == "unknown" && isWithin(name, domain)) {
              chosen = name;
            }
          }
          if (chosen == "unknown" && !names.empty()) {
            chosen = names.front();
          }
          finishExpansion(chosen);
        });
  }

  // The client's host names that resolve back to it (section 5.5), looked up once.
  void validatedNames(std::function<void(const std::vector<std::string>&)> ready) {
    if (validated_) {
      ready(*validated_);
      return;
    }
    query(reverseName(), DnsType::Ptr,
          [self = shared_from_this(), ready = std::move(ready)](DnsResult answer) {
            auto names = std::make_shared<std::vector<std::string>>();
            if (answer.status == DnsStatus::Ok) {
              for (std::size_t i = 0; i < answer.records.size() && i < self->limits_.ptr_names;
                   ++i) {
                names->push_back(withoutTrailingDot(answer.records[i].value));
              }
            }
            self->validateNames(names, 0, std::make_shared<std::vector<std::string>>(), ready);
          });
  }

  void validateNames(std::shared_ptr<std::vector<std::string>> names, std::size_t index,
                     std::shared_ptr<std::vector<std::string>> validated,
                     std::function<void(const std::vector<std::string>&)> ready) {
    if (index == names->size()) {
      validated_ = *validated;
      ready(*validated_);
      return;
    }
    const std::string& name = (*names)[index];
    if (!isUsableDomain(name)) {
      validateNames(names, index + 1, validated, std::move(ready));
      return;
    }
    query(name, addressType(),
          [self = shared_from_this(), names, index, validated,
           ready = std::move(ready)](DnsResult answer) mutable {
            // A DNS error leaves the name unvalidated (section 5.5).
            if (answer.status == DnsStatus::Ok && self->anyAddressWithin(answer, -1)) {
              validated->push_back((*names)[index]);
            }
            self->validateNames(names, index + 1, validated, std::move(ready));
          });
  }

  std::string reverseName() const {
    std::string name;
    if (!client_->v6) {
      for (int i = 3; i >= 0; --i) {
        name += fmt::format("{}.", client_->bytes[i]);
      }
      return name + "in-addr.arpa";
    }
    constexpr std::string_view Hex = "0123456789abcdef";
    for (int i = 15; i >= 0; --i) {
      name += Hex[client_->bytes[i] & 0xf];
      name += '.';
      name += Hex[client_->bytes[i] >> 4];
      name += '.';
    }
    return name + "ip6.arpa";
  }

  DnsType addressType() const { return client_->v6 ? DnsType::Aaaa : DnsType::A; }

  // Whether an address record lies within `prefix` bits of the client (-1: the whole address).
  bool anyAddressWithin(const DnsResult& answer, int prefix) const {
    const unsigned bits = prefix < 0 ? (client_->v6 ? 128u : 32u) : static_cast<unsigned>(prefix);
    for (const auto& record : answer.records) {
      auto address = util::IpAddress::parse(record.value);
      if (address && util::Cidr{*address, bits}.contains(*client_)) {
        return true;
      }
    }
    return false;
  }

  int cidrFor(const Mechanism& mechanism) const {
    return client_->v6 ? mechanism.ip6_cidr : mechanism.ip4_cidr;
  }

  // Evaluates the top frame from its next mechanism until one needs DNS or matches.
  void step() {
    while (!finished_) {
      Frame& frame = frames_.back();
      if (frame.next == frame.record.mechanisms.size()) {
        noMatchInRecord();
        return;
      }
      const Mechanism& mechanism = frame.record.mechanisms[frame.next++];
      switch (mechanism.kind) {
      case MechanismKind::All:
        endFrame(resultOf(mechanism.qualifier), mechanism);
        return;
      case MechanismKind::Ip4:
      case MechanismKind::Ip6: {
        const bool v6 = mechanism.kind == MechanismKind::Ip6;
        if (client_->v6 == v6) {
          util::IpAddress network{v6, {}};
          std::copy(mechanism.network.begin(), mechanism.network.end(), network.bytes.begin());
          const int prefix = v6 ? mechanism.ip6_cidr : mechanism.ip4_cidr;
          if (util::Cidr{network, static_cast<unsigned>(prefix)}.contains(*client_)) {
            endFrame(resultOf(mechanism.qualifier), mechanism);
            return;
          }
        }
        continue;
      }
      case MechanismKind::A:
      case MechanismKind::Mx:
      case MechanismKind::Ptr:
      case MechanismKind::Exists:
      case MechanismKind::Include:
        if (countLookup(&mechanism)) {
          evaluateWithDns(mechanism);
        }
        return;
      }
    }
  }

  void matchedIf(bool matched, const Mechanism& mechanism) {
    if (matched) {
      endFrame(resultOf(mechanism.qualifier), mechanism);
    } else {
      step();
    }
  }

  void evaluateWithDns(const Mechanism& directive) {
    expand(directive.domain_spec, MacroContext::DomainSpec,
           [self = shared_from_this(), mechanism = directive](std::string target) {
             self->evaluateTarget(mechanism, std::move(target));
           });
  }

  void evaluateTarget(const Mechanism& mechanism, std::string target) {
    auto self = shared_from_this();
    // A name that cannot be looked up matches nothing (include: has no record).
    const bool usable = isUsableDomain(target);
    switch (mechanism.kind) {
    case MechanismKind::A:
    case MechanismKind::Exists: {
      if (!usable) {
        step();
        return;
      }
      const DnsType type = mechanism.kind == MechanismKind::Exists ? DnsType::A : addressType();
      query(target, type, [self, mechanism, target](DnsResult answer) {
        if (isDnsError(answer)) {
          self->finish(CheckResult::TempError,
                       fmt::format("DNS error looking up {}: {}", target, answer.error));
          return;
        }
        const bool matched = mechanism.kind == MechanismKind::Exists
                                 ? !answer.records.empty()
                                 : self->anyAddressWithin(answer, self->cidrFor(mechanism));
        self->matchedIf(matched, mechanism);
      });
      return;
    }
    case MechanismKind::Mx:
      if (!usable) {
        step();
        return;
      }
      query(target, DnsType::Mx, [self, mechanism, target](DnsResult answer) {
        if (isDnsError(answer)) {
          self->finish(CheckResult::TempError,
                       fmt::format("DNS error looking up MX {}: {}", target, answer.error));
          return;
        }
        if (answer.records.size() > self->limits_.mx_names) {
          self->finish(CheckResult::PermError,
                       fmt::format("{} has {} MX records, more than {}", target,
                                   answer.records.size(), self->limits_.mx_names));
          return;
        }
        auto hosts = std::make_shared<std::vector<std::string>>();
        for (const auto& record : answer.records) {
          hosts->push_back(withoutTrailingDot(record.value));
        }
        self->matchMxHosts(mechanism, hosts, 0);
      });
      return;
    case MechanismKind::Ptr:
      validatedNames([self, mechanism, target](const std::vector<std::string>& names) {
        bool matched = false;
        for (const auto& name : names) {
          matched = matched || isWithin(name, target);
        }
        self->matchedIf(matched, mechanism);
      });
      return;
    case MechanismKind::Include:
      fetchRecord(target, [self, mechanism, target](std::optional<Record> record) {
        if (!record) {
          self->finish(CheckResult::PermError,
                       fmt::format("include:{} names a domain without an SPF record", target));
          return;
        }
        self->include_directives_.push_back(mechanism);
        self->frames_.push_back(Frame{target, std::move(*record)});
        self->step();
      });
      return;
    default:
      step();
      return;
    }
  }

  void matchMxHosts(const Mechanism& mechanism, std::shared_ptr<std::vector<std::string>> hosts,
                    std::size_t index) {
    while (index < hosts->size() && !isUsableDomain((*hosts)[index])) {
      ++index; // a null MX (".") or a bad name has no addresses
    }
    if (index == hosts->size()) {
      step();
      return;
    }
    query((*hosts)[index], addressType(),
          [self = shared_from_this(), mechanism, hosts, index](DnsResult answer) {
            if (isDnsError(answer)) {
              self->finish(CheckResult::TempError, fmt::format("DNS error looking up {}: {}",
                                                               (*hosts)[index], answer.error));
              return;
            }
            if (self->anyAddressWithin(answer, self->cidrFor(mechanism))) {
              self->endFrame(resultOf(mechanism.qualifier), mechanism);
              return;
            }
            self->matchMxHosts(mechanism, hosts, index + 1);
          });
  }

  // No mechanism matched: redirect= if there is one, else the default result, neutral.
  void noMatchInRecord() {
    Frame& frame = frames_.back();
    if (!frame.record.redirect) {
      endFrame(CheckResult::Neutral, std::nullopt);
      return;
    }
    if (!countLookup(nullptr)) {
      return;
    }
    expand(*frame.record.redirect, MacroContext::DomainSpec,
           [self = shared_from_this()](std::string target) {
             self->fetchRecord(target, [self, target](std::optional<Record> record) {
               if (!record) {
                 self->finish(
                     CheckResult::PermError,
                     fmt::format("redirect={} names a domain without an SPF record", target));
                 return;
               }
               // The redirect's record takes the frame's place, with its own exp=.
               self->frames_.back() = Frame{target, std::move(*record)};
               self->step();
             });
           });
  }

  // The top frame's record gave `result`; an include passes it to the record that included it.
  void endFrame(CheckResult result, std::optional<Mechanism> matched) {
    if (frames_.size() > 1) {
      frames_.pop_back();
      Mechanism include = include_directives_.back();
      include_directives_.pop_back();
      matchedIf(result == CheckResult::Pass, include);
      return;
    }
    outcome_.mechanism = matched ? writeMechanism(*matched) : "";
    if (result != CheckResult::Fail || !frames_.back().record.explanation) {
      finish(result);
      return;
    }
    explain();
  }

  // Section 6.2: any trouble with exp= leaves the explanation empty.
  void explain() {
    const std::string spec = *frames_.back().record.explanation;
    expand(spec, MacroContext::DomainSpec, [self = shared_from_this()](std::string target) {
      if (!isUsableDomain(target)) {
        self->finish(CheckResult::Fail);
        return;
      }
      self->lookup_(target, DnsType::Txt, [self](DnsResult answer) {
        if (self->finished_) {
          return;
        }
        if (answer.status != DnsStatus::Ok || answer.records.size() != 1) {
          self->finish(CheckResult::Fail);
          return;
        }
        auto expansion = expandMacros(answer.records.front().value, self->macroInputs(),
                                      MacroContext::Explanation);
        if (expansion.ok() && !ascii::hasNonAscii(expansion.text)) {
          self->outcome_.explanation = std::move(expansion.text);
        }
        self->finish(CheckResult::Fail);
      });
    });
  }

  void finish(CheckResult result, std::string problem = {}) {
    if (finished_) {
      return;
    }
    finished_ = true;
    outcome_.result = result;
    outcome_.problem = std::move(problem);
    auto done = std::move(done_);
    done(std::move(outcome_));
  }

  CheckRequest request_;
  DnsLookup lookup_;
  std::function<void(CheckOutcome)> done_;
  CheckLimits limits_;
  CheckOutcome outcome_;
  bool finished_ = false;
  std::optional<util::IpAddress> client_;
  std::string local_part_;
  std::string sender_domain_;
  std::vector<Frame> frames_;
  std::vector<Mechanism> include_directives_; // the include that opened each frame past the first
  std::optional<std::vector<std::string>> validated_;
};

} // namespace

std::string_view resultName(CheckResult result) {
  switch (result) {
  case CheckResult::None:
    return "none";
  case CheckResult::Neutral:
    return "neutral";
  case CheckResult::Pass:
    return "pass";
  case CheckResult::Fail:
    return "fail";
  case CheckResult::SoftFail:
    return "softfail";
  case CheckResult::TempError:
    return "temperror";
  case CheckResult::PermError:
    return "permerror";
  }
  return "none";
}

void checkHost(CheckRequest request, DnsLookup lookup, std::function<void(CheckOutcome)> done,
               CheckLimits limits) {
  auto evaluation =
      std::make_shared<Evaluation>(std::move(request), std::move(lookup), std::move(done), limits);
  evaluation->start();
}

} // namespace upesi::spf
