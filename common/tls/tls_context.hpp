// OpenSSL contexts built from tls.ini: the server's (with certificates chosen by SNI from
// config/tls/) and the SMTP client's. Every error names the file at fault.
#pragma once

#include "common/config/config.hpp"
#include "common/tls/tls_config.hpp"
#include "common/util/result.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

using SSL_CTX = struct ssl_ctx_st;

namespace upesi::tls {

struct ContextFree {
  void operator()(SSL_CTX* context) const;
};
using ContextPtr = std::unique_ptr<SSL_CTX, ContextFree>;

/// The server side: the default certificate (tls_key.pem/tls_cert.pem) and one context per name
/// found in config/tls/*.pem. Immutable once loaded; a reload builds a new one, and sessions keep
/// the one they started with (shared_ptr), so a handshake never sees a half-swapped set.
class ServerTls {
public:
  static Result<std::shared_ptr<const ServerTls>> load(config::Config& config,
                                                       const TlsConfig& settings);
  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  SSL_CTX* context() const { return default_.get(); }
  const TlsConfig& settings() const { return settings_; }
  /// The names config/tls/ certificates answer for (lower case; "*.example.com" for wildcards).
  std::vector<std::string> sniNames() const;
  /// The context for an SNI name, or null for the default one.
  SSL_CTX* contextForName(std::string name) const;
  /// The files this set was built from (names in the config directory), so a change to any of
  /// them can load the set again.
  const std::vector<std::string>& files() const { return files_; }

private:
  ServerTls() = default;
  TlsConfig settings_;
  ContextPtr default_;
  std::vector<ContextPtr> by_file_;
  std::map<std::string, SSL_CTX*> by_name_;
  std::vector<std::string> files_;
};

/// tls.ini and the files it names: what the server uses when the tls plugin is listed.
Result<std::shared_ptr<const ServerTls>> loadInboundTls(config::Config& config);

/// Lets `ctx` verify peers against the system's CAs, read from its hashed directory (SSL_CERT_DIR,
/// else OpenSSL's default) one issuer at a time as chains need them and then kept: loading the
/// bundle file instead decodes every CA (about 150, half a megabyte) in each process at start.
/// A bundle of one's own is tls.ini's `ca`.
void useSystemCertificates(SSL_CTX* ctx);

/// The SMTP client's context from [outbound]: system CAs (or `ca`), an optional client
/// certificate (key/cert when both files exist), protocol and cipher limits. Verification is
/// decided per connection (see TlsChannel::client), so one context serves every destination.
Result<ContextPtr> makeClientContext(config::Config& config, const TlsSideConfig& side);

} // namespace upesi::tls
