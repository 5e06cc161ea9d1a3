// dkim: DKIM (RFC 6376, RFC 8463) with Haraka's dkim.ini and key layout. Signs relayed mail
// (queue_outbound) and mail from send_email() (pre_send_trans_email) with the keys of the From
// domain; verifies every inbound signature, hashing bodies while the message streams in and
// asking DNS for the keys at data_post.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>
#include <upesi/text.hpp>

#include "common/auth/dkim_key_store.hpp"
#include "common/auth/dkim_verifier.hpp"
#include "common/auth/from_domain.hpp"
#include "common/config/ini_values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace upesi::plugins::dkim {

using config::iniFlag;
using config::iniInteger;
using config::iniString;

using namespace upesi::dkim;
// The verifier's outcome, not upesi::Result: in a unity build both are in sight.
using ::upesi::dkim::Result;
namespace {

const std::vector<std::string> Booleans = {"-sign.enabled", "+verify.enabled"};

constexpr unsigned DefaultLookupTimeout = 10; // seconds, for the key lookups of one message
constexpr std::size_t MaxSignedHeaderBytes = 1024 * 1024;

// "relaxed/simple", "simple" (the body then simple too, RFC 6376 section 3.5 c=).
std::optional<std::pair<Canon, Canon>> parseCanonicalization(std::string text) {
  text = text::toLower(std::string(text::trim(text)));
  auto one = [](std::string_view name) -> std::optional<Canon> {
    if (name == "simple") {
      return Canon::Simple;
    }
    if (name == "relaxed") {
      return Canon::Relaxed;
    }
    return std::nullopt;
  };
  auto slash = text.find('/');
  auto header = one(std::string_view(text).substr(0, slash));
  auto body = slash == std::string::npos ? std::optional<Canon>(Canon::Simple)
                                         : one(std::string_view(text).substr(slash + 1));
  if (!header || !body) {
    return std::nullopt;
  }
  return std::make_pair(*header, *body);
}

// The header block's fields, each "Name: value" with its folding, without the final CRLF.
std::vector<std::string_view> headerFields(std::string_view block) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (start < block.size()) {
    std::size_t end = start;
    for (;;) {
      std::size_t line_end = block.find("\r\n", end);
      if (line_end == std::string_view::npos) {
        end = block.size();
        break;
      }
      end = line_end + 2;
      if (end >= block.size() || (block[end] != ' ' && block[end] != '\t')) {
        break;
      }
    }
    std::string_view field = block.substr(start, end - start);
    if (field.size() >= 2 && field.substr(field.size() - 2) == "\r\n") {
      field.remove_suffix(2);
    }
    fields.push_back(field);
    start = end;
  }
  return fields;
}

} // namespace

class Dkim final : public Plugin {
public:
  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("dkim.ini", [this] { load(); });
    for (const auto& file : keys_->files()) {
      host.onConfigChange(file, [this] { loadKeys(); });
    }
    // As in Haraka, which of signing and verifying run is read at start; a change needs a
    // reload (SIGUSR2). Keys and the other settings are re-read live.
    if (iniFlag(cfg_, "sign", "enabled")) {
      auto sign = [this](Next next, Connection& c, const HookParams&) { this->sign(next, c); };
      // Early, so that every queue plugin after it sends the signed message.
      registrar.registerHook(Hook::QueueOutbound, sign, -50, "hook_queue_outbound");
      registrar.registerHook(Hook::PreSendTransEmail, sign, 0, "hook_pre_send_trans_email");
    }
    if (iniFlag(cfg_, "verify", "enabled")) {
      registrar.registerHook(
          Hook::Data, [this](Next next, Connection& c, const HookParams&) { startVerify(next, c); },
          0, "dkim_verify_start");
      // Before dmarc, which reads the results.
      registrar.registerHook(
          Hook::DataPost,
          [this](Next next, Connection& c, const HookParams&) { finishVerify(next, c); }, -10,
          "dkim_verify");
      registrar.registerHook(
          Hook::ResetTransaction,
          [this](Next next, Connection& c, const HookParams&) {
            forget(c.uuid() + ".");
            next();
          },
          0, "dkim_verify_reset");
      registrar.registerHook(
          Hook::Disconnect,
          [this](Next next, Connection& c, const HookParams&) {
            forget(c.uuid() + ".");
            next();
          },
          0, "dkim_verify_disconnect");
    }
  }

  void shutdown() override {
    *alive_ = false;
    for (auto id : timers_) {
      host_->clearTimeout(id);
    }
    timers_.clear();
    verifiers_.clear();
  }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"dkim.ini", "ini", Booleans}};
  }

private:
  void load() {
    cfg_ = host_->config("dkim.ini", "ini", Booleans);
    headers_.clear();
    for (const auto& name :
         text::splitList(iniString(cfg_, "sign", "headers",
                                   "From, Sender, Reply-To, Subject, Date, Message-ID, To, Cc, "
                                   "MIME-Version"),
                         ",;: ")) {
      headers_.push_back(text::toLower(std::string(name)));
    }
    if (std::find(headers_.begin(), headers_.end(), "from") == headers_.end()) {
      headers_.push_back("from"); // RFC 6376 section 5.4: From is always signed
    }
    oversign_.clear();
    for (const auto& name : text::splitList(iniString(cfg_, "sign", "oversign", "From"), ",;: ")) {
      oversign_.push_back(text::toLower(std::string(name)));
    }
    canon_ = {Canon::Relaxed, Canon::Relaxed};
    auto canonicalization = iniString(cfg_, "sign", "canonicalization", "relaxed/relaxed");
    if (auto parsed = parseCanonicalization(canonicalization)) {
      canon_ = *parsed;
    } else {
      host_->log(LogLevel::Error,
                 fmt::format("dkim.ini [sign] canonicalization={} is not simple or relaxed "
                             "(header/body); signing relaxed/relaxed",
                             canonicalization));
    }
    expire_ = std::max<long long>(0, iniInteger(cfg_, "sign", "expire").value_or(0));
    timeout_ = static_cast<unsigned>(std::max<long long>(
        1, iniInteger(cfg_, "verify", "timeout").value_or(DefaultLookupTimeout)));
    verify_options_ = {};
    verify_options_.clock_skew = iniInteger(cfg_, "verify", "allowed_time_skew").value_or(300);
    verify_options_.body_length = iniString(cfg_, "verify", "body_length", "ignore") == "refuse"
                                      ? BodyLengthPolicy::Refuse
                                      : BodyLengthPolicy::Ignore;
    verify_options_.minimum_rsa_bits =
        static_cast<int>(iniInteger(cfg_, "verify", "min_key_bits").value_or(MinimumRsaBits));
    loadKeys();
  }

  void loadKeys() {
    Host* host = host_;
    auto store = KeyStore::loadConfigured(
        host_->installDir() / "config", cfg_,
        [host](const std::string& name) { return host->config(name, "data"); });
    for (const auto& error : store.errors()) {
      host_->log(LogLevel::Error, error);
    }
    keys_ = std::make_shared<KeyStore>(std::move(store));
  }

  // The domain whose key signs: the From field's (Haraka), else the envelope sender's.
  static std::string signingDomain(Transaction& txn) {
    auto from = upesi::dmarc::fromDomain(txn.headers("From"));
    if (from.ok()) {
      return from.domain;
    }
    return txn.mailFrom().host;
  }

  struct SignJob {
    std::shared_ptr<Transaction> txn;
    std::vector<SigningKey> keys;
    SignOptions options;
    std::vector<std::string> signatures;
    std::string error;
  };

  void sign(const Next& next, Connection& connection) {
    auto txn = connection.sharedTransaction();
    if (!txn) {
      return next();
    }
    const auto& name = host_->pluginName();
    if (txn->notes().value("dkim_signed", false)) {
      return next();
    }
    const std::string domain = signingDomain(*txn);
    const auto& keys = keys_->keysFor(domain);
    if (keys.empty()) {
      txn->results().add(name, {{"msg", fmt::format("no key for {}", domain)}});
      return next();
    }
    auto job = std::make_shared<SignJob>();
    job->txn = txn;
    job->keys = keys;
    job->options.header_canon = canon_.first;
    job->options.body_canon = canon_.second;
    job->options.headers = headers_;
    job->options.oversign = oversign_;
    job->options.timestamp = static_cast<std::int64_t>(std::time(nullptr));
    if (expire_ > 0) {
      job->options.expiration = job->options.timestamp + expire_;
    }
    // The message may be spooled to disk: read and sign it off the loop.
    host_->runInThreadPool([job] { signInPool(*job); },
                           [this, alive = alive_, job, next, domain] {
                             if (!*alive || !next.pending()) {
                               return;
                             }
                             finishSigning(*job, domain);
                             next();
                           });
  }

  static void signInPool(SignJob& job) {
    std::string header;
    bool in_body = false;
    BodyHasher hasher(job.options.body_canon);
    bool read = job.txn->writeMessage([&](std::string_view chunk) {
      if (in_body) {
        hasher.update(chunk);
        return true;
      }
      const std::size_t searched = header.size() >= 3 ? header.size() - 3 : 0;
      header.append(chunk);
      auto end = header.rfind("\r\n", 1) == 0 ? 0 : header.find("\r\n\r\n", searched);
      if (end != std::string::npos) {
        const std::size_t body_start = end == 0 ? 2 : end + 4;
        hasher.update(std::string_view(header).substr(body_start));
        header.resize(end == 0 ? 0 : end + 2);
        in_body = true;
      } else if (header.size() > MaxSignedHeaderBytes) {
        job.error = "header larger than 1 MiB";
        return false;
      }
      return true;
    });
    if (!read) {
      if (job.error.empty()) {
        job.error = "the message could not be read";
      }
      return;
    }
    const std::string body_hash = hasher.finish();
    const auto fields = headerFields(header);
    for (const auto& key : job.keys) {
      auto signed_value = signMessage(key, fields, body_hash, job.options);
      if (!signed_value.ok()) {
        job.error = fmt::format("signing for {} (selector {}) failed: {}", key.domain, key.selector,
                                signed_value.error);
        return;
      }
      job.signatures.push_back(std::move(signed_value.value));
    }
  }

  void finishSigning(SignJob& job, const std::string& domain) {
    const auto& name = host_->pluginName();
    if (!job.error.empty()) {
      job.txn->results().add(name, {{"err", job.error}});
      host_->log(LogLevel::Error, fmt::format("not signed: {}", job.error));
      return;
    }
    // RFC 6376 section 5.6: prepended, each new signature above the ones before it.
    for (const auto& value : job.signatures) {
      job.txn->addLeadingHeader("DKIM-Signature", text::trim(value));
    }
    job.txn->notes()["dkim_signed"] = true;
    for (const auto& key : job.keys) {
      job.txn->results().add(
          name, {{"pass", fmt::format("signed {} s={} a={}", key.domain, key.selector,
                                      key.algorithm == Algorithm::RsaSha256 ? "rsa-sha256"
                                                                            : "ed25519-sha256")}});
    }
    host_->log(LogLevel::Info,
               fmt::format("signed for {} with {} key(s)", domain, job.signatures.size()));
  }

  void startVerify(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr) {
      return next();
    }
    auto verifier = std::make_shared<Verifier>(verify_options_);
    verifiers_[txn->uuid()] = verifier;
    txn->streamMessage({[verifier](std::string_view bytes) { verifier->feed(bytes); },
                        [verifier] { verifier->finish(); }});
    next();
  }

  void forget(const std::string& prefix) {
    for (auto it = verifiers_.begin(); it != verifiers_.end();) {
      it = it->first.rfind(prefix, 0) == 0 ? verifiers_.erase(it) : std::next(it);
    }
  }

  struct Verification {
    std::shared_ptr<Verifier> verifier;
    Next next;
    Connection* connection;
    std::size_t waiting = 0;
    bool done = false;
    std::uint64_t timer = 0;
  };

  void finishVerify(const Next& next, Connection& connection) {
    auto* txn = connection.transaction();
    if (txn == nullptr) {
      return next();
    }
    auto found = verifiers_.find(txn->uuid());
    if (found == verifiers_.end()) {
      return next();
    }
    auto state = std::make_shared<Verification>(Verification{found->second, next, &connection});
    verifiers_.erase(found);
    const auto lookups = state->verifier->keyLookups();
    if (lookups.empty()) {
      return complete(state);
    }
    state->waiting = lookups.size();
    state->timer = host_->setTimeout(timeout_ * 1000ULL, [this, state] {
      timers_.erase(state->timer);
      state->timer = 0;
      // Keys still missing: a temporary failure for those signatures.
      for (const auto& lookup : state->verifier->keyLookups()) {
        state->verifier->supplyKey(lookup.index, {KeyAnswer::Outcome::TempFail, {}});
      }
      complete(state);
    });
    timers_.insert(state->timer);
    for (const auto& lookup : lookups) {
      host_->dnsQuery(lookup.name, DnsType::Txt,
                      [this, alive = alive_, state, index = lookup.index](DnsResult result) {
                        if (!*alive || state->done) {
                          return;
                        }
                        KeyAnswer answer;
                        if (result.status == DnsStatus::Ok && !result.records.empty()) {
                          answer.outcome = KeyAnswer::Outcome::Found;
                          for (const auto& record : result.records) {
                            answer.txts.push_back(record.value);
                          }
                        } else if (result.status == DnsStatus::NxDomain ||
                                   result.status == DnsStatus::NoData ||
                                   result.status == DnsStatus::Ok) {
                          answer.outcome = KeyAnswer::Outcome::NoRecord;
                        } else {
                          answer.outcome = KeyAnswer::Outcome::TempFail;
                        }
                        state->verifier->supplyKey(index, answer);
                        if (--state->waiting == 0) {
                          complete(state);
                        }
                      });
    }
  }

  void complete(const std::shared_ptr<Verification>& state) {
    if (state->done) {
      return;
    }
    state->done = true;
    if (state->timer != 0) {
      host_->clearTimeout(state->timer);
      timers_.erase(state->timer);
      state->timer = 0;
    }
    // The client may be gone: only a pending next proves the connection still exists.
    if (!state->next.pending()) {
      return;
    }
    auto* txn = state->connection->transaction();
    if (txn == nullptr) {
      return state->next();
    }
    const auto& name = host_->pluginName();
    for (const auto& result : state->verifier->results()) {
      const std::string verdict(resultName(result.result));
      nlohmann::json properties = nlohmann::json::object();
      if (!result.domain.empty()) {
        properties["header.d"] = result.domain;
        properties["header.s"] = result.selector;
        properties["header.a"] = result.algorithm;
        properties["header.b"] = result.header_b;
      }
      nlohmann::json entry = {{"method", "dkim"}, {"result", verdict}, {"properties", properties}};
      if (!result.reason.empty()) {
        entry["reason"] = result.reason;
      }
      txn->results().push(name, {{"auth_results", entry}});
      if (result.result == Result::None) {
        txn->results().add(name, {{"msg", "no signatures"}});
        continue;
      }
      txn->results().push(name, {{"signatures",
                                  {{"domain", result.domain},
                                   {"selector", result.selector},
                                   {"identity", result.identity},
                                   {"result", verdict},
                                   {"reason", result.reason}}}});
      txn->results().add(name, {{result.result == Result::Pass ? "pass" : "fail",
                                 result.domain.empty() ? verdict : result.domain}});
      host_->log(LogLevel::Info,
                 fmt::format("identity=\"{}\" domain=\"{}\" selector=\"{}\" result={}{}",
                             result.identity, result.domain, result.selector, verdict,
                             result.reason.empty() ? "" : " reason=\"" + result.reason + "\""),
                 state->connection);
    }
    for (const auto& note : state->verifier->notes()) {
      txn->results().add(name, {{"msg", note}});
    }
    state->next();
  }

  Host* host_ = nullptr;
  nlohmann::json cfg_;
  std::vector<std::string> headers_;
  std::vector<std::string> oversign_;
  std::pair<Canon, Canon> canon_{Canon::Relaxed, Canon::Relaxed};
  long long expire_ = 0;
  unsigned timeout_ = DefaultLookupTimeout;
  VerifyOptions verify_options_;
  std::shared_ptr<KeyStore> keys_ = std::make_shared<KeyStore>();
  std::unordered_map<std::string, std::shared_ptr<Verifier>> verifiers_; // by transaction uuid
  std::set<std::uint64_t> timers_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace upesi::plugins::dkim

std::unique_ptr<upesi::Plugin> upesi_builtin_dkim() {
  return std::make_unique<upesi::plugins::dkim::Dkim>();
}
