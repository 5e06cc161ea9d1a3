// auth/auth_proxy: checks AUTH credentials by trying them on the SMTP server of the user's
// domain (auth_proxy.ini [domains]), inside STARTTLS with a certificate that verifies (unless
// [main] reject_unauthorized=false). Only PLAIN and LOGIN can be proxied: the other server needs
// the password itself.
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/plugin.hpp>

#include "common/smtp_client/quitting_clients.hpp"
#include "common/smtp_client/smtp_client.hpp"
#include "common/tls/tls_context.hpp"
#include "common/util/text.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace upesi::plugins::auth_proxy {
namespace {

struct ProxyHost {
  std::string name;
  std::uint16_t port = 25;
};

bool isIpv4(const std::string& s) {
  unsigned char buf[4];
  return inet_pton(AF_INET, s.c_str(), buf) == 1;
}

} // namespace

class AuthProxy final : public Plugin {
public:
  AuthProxy() : context_(SSL_CTX_new(TLS_client_method())) {
    if (context_ != nullptr) {
      tls::useSystemCertificates(context_);
      SSL_CTX_set_min_proto_version(context_, TLS1_2_VERSION);
    }
  }
  ~AuthProxy() override {
    quitting_.dropAll(); // they use the context
    SSL_CTX_free(context_);
  }
  AuthProxy(const AuthProxy&) = delete;
  AuthProxy& operator=(const AuthProxy&) = delete;

  void registerHooks(Host& host, Registrar& registrar) override {
    host_ = &host;
    load();
    host.onConfigChange("auth_proxy.ini", [this] { load(); });
    registrar.registerHook(
        Hook::Capabilities,
        [this](Next next, Connection& c, const HookParams&) {
          if (!domains_.empty()) {
            c.capabilities().push_back("AUTH PLAIN LOGIN"); // the core withholds it outside TLS
          }
          next();
        },
        0, "advertise");
    registrar.registerHook(
        Hook::Auth, [this](Next next, Connection& c, const HookParams& p) { check(next, c, p); }, 0,
        "check");
  }

  void shutdown() override { quitting_.dropAll(); }

  std::vector<ConfigFileSpec> configFiles() const override {
    return {{"auth_proxy.ini", "ini", {std::string(Booleans)}}};
  }

private:
  struct Attempt {
    explicit Attempt(Next n) : next(std::move(n)) {}
    Next next;
    std::string user;
    std::string password;
    std::string uuid;
    std::vector<ProxyHost> hosts;
    std::size_t index = 0;
    std::string last_error;
    std::unique_ptr<smtp_client::SmtpClient> client;
  };
  using AttemptPtr = std::shared_ptr<Attempt>;

  static constexpr std::string_view Booleans = "+main.reject_unauthorized";

  void load() {
    domains_.clear();
    auto ini = host_->config("auth_proxy.ini", "ini", {std::string(Booleans)});
    const auto& main = ini["main"];
    reject_unauthorized_ = main.value("reject_unauthorized", true);
    if (main.contains("ca_file") && main["ca_file"].is_string() && context_ != nullptr) {
      auto ca_file = main["ca_file"].get<std::string>();
      if (SSL_CTX_load_verify_locations(context_, ca_file.c_str(), nullptr) != 1) {
        host_->log(LogLevel::Error,
                   fmt::format("ca_file {}: cannot load the certificates", ca_file));
      }
    }
    if (!ini.contains("domains") || !ini["domains"].is_object()) {
      return;
    }
    for (const auto& [domain, value] : ini["domains"].items()) {
      if (!value.is_string()) {
        continue;
      }
      std::vector<ProxyHost> hosts;
      for (const auto& item : text::splitList(value.get<std::string>())) {
        ProxyHost h;
        auto colon = item.rfind(':');
        h.name = item.substr(0, colon);
        if (colon != std::string::npos) {
          h.port = static_cast<std::uint16_t>(std::strtoul(item.c_str() + colon + 1, nullptr, 10));
        }
        hosts.push_back(h);
      }
      domains_[text::toLower(domain)] = hosts;
    }
  }

  void check(const Next& next, Connection& connection, const HookParams& params) {
    const auto* attempt = params.auth;
    if (attempt == nullptr || attempt->password.empty()) {
      return next(); // CRAM-MD5: nothing to pass on
    }
    auto at = attempt->user.rfind('@');
    auto it = at == std::string::npos ? domains_.end()
                                      : domains_.find(text::toLower(attempt->user.substr(at + 1)));
    if (it == domains_.end()) {
      return next(); // not a domain this plugin knows
    }
    auto job = std::make_shared<Attempt>(next);
    job->user = attempt->user;
    job->password = attempt->password;
    job->uuid = connection.uuid();
    job->hosts = it->second;
    tryNext(job);
  }

  void tryNext(const AttemptPtr& job) {
    if (job->index >= job->hosts.size()) {
      host_->log(LogLevel::Notice, fmt::format("no server of the domain could check the "
                                               "credentials: {}",
                                               job->last_error));
      return job->next(Code::DenySoft, "Temporary authentication failure");
    }
    const ProxyHost& h = job->hosts[job->index++];
    if (isIpv4(h.name)) {
      return connect(job, h, h.name);
    }
    host_->dnsQuery(h.name, DnsType::A, [this, job, h](DnsResult result) {
      if (result.status != DnsStatus::Ok || result.records.empty()) {
        job->last_error = fmt::format("{}: no address ({})", h.name, result.error);
        return tryNext(job);
      }
      connect(job, h, result.records.front().value);
    });
  }

  void connect(const AttemptPtr& job, const ProxyHost& h, const std::string& ip) {
    smtp_client::ClientOptions options;
    options.ip = ip;
    options.port = h.port;
    options.host = h.name;
    options.helo = host_->me();
    options.log_id = job->uuid;
    options.tls.context = context_;
    // Verifying means TLS is required too: else whoever strips STARTTLS reads the password.
    options.tls.verify = reject_unauthorized_;
    options.tls.mode =
        reject_unauthorized_ ? smtp_client::TlsMode::Required : smtp_client::TlsMode::Opportunistic;
    options.auth.user = job->user;
    options.auth.password = job->password;
    job->client = std::make_unique<smtp_client::SmtpClient>(
        static_cast<uv_loop_t*>(host_->uvLoop()), options);
    job->client->connect([this, job, name = h.name](const smtp_client::Status& status) {
      quitting_.quitAndRelease(std::move(job->client));
      if (status.ok()) {
        return job->next(Code::Ok);
      }
      if (status.outcome == smtp_client::Outcome::Permanent && status.code >= 500) {
        return job->next(Code::Deny, "Authentication credentials invalid");
      }
      job->last_error = fmt::format("{}: {}", name, status.reason);
      tryNext(job);
    });
  }

  Host* host_ = nullptr;
  SSL_CTX* context_;
  smtp_client::QuittingClients quitting_; // connections saying QUIT after their check
  bool reject_unauthorized_ = true;
  std::map<std::string, std::vector<ProxyHost>> domains_;
};

} // namespace upesi::plugins::auth_proxy

std::unique_ptr<upesi::Plugin> upesi_builtin_auth_auth_proxy() {
  return std::make_unique<upesi::plugins::auth_proxy::AuthProxy>();
}
