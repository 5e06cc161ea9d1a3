#include "common/tls/tls_context.hpp"

#include <upesi/text.hpp>

#include "common/tls/tls_channel.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <filesystem>

namespace upesi::tls {
namespace {

// Accepts every certificate during the handshake; the result is read afterwards (the session
// decides what an unverified client certificate means). Used unless rejectUnauthorized.
int acceptAnyCertificate(int /*preverify_ok*/, X509_STORE_CTX* /*store*/) {
  return 1;
}

Result<bool> applySide(SSL_CTX* ctx, config::Config& config, const TlsSideConfig& side,
                       bool server) {
  SSL_CTX_set_min_proto_version(ctx, tlsVersionFromName(side.min_version));
  if (!side.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, side.ciphers.c_str()) != 1) {
    return Error{fmt::format("tls.ini: ciphers \"{}\": {}", side.ciphers, lastOpenSslError())};
  }
  if (!side.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, side.ciphersuites.c_str()) != 1) {
    return Error{
        fmt::format("tls.ini: ciphersuites \"{}\": {}", side.ciphersuites, lastOpenSslError())};
  }
  if (server && side.honor_cipher_order) {
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  }
  // SMTP peers send little; no need to renegotiate, ever.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  if (!side.ca.empty()) {
    auto path = config.resolve(side.ca);
    if (!path || SSL_CTX_load_verify_locations(ctx, path->c_str(), nullptr) != 1) {
      return Error{
          fmt::format("tls.ini ca: {}: {}", path ? path->string() : side.ca, lastOpenSslError())};
    }
  } else if (!server) {
    useSystemCertificates(ctx);
  }
  if (!side.dhparam.empty()) {
    auto path = config.resolve(side.dhparam);
    BIO* bio = path ? BIO_new_file(path->c_str(), "r") : nullptr;
    EVP_PKEY* dh = bio ? PEM_read_bio_Parameters(bio, nullptr) : nullptr;
    BIO_free(bio);
    if (dh == nullptr || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
      EVP_PKEY_free(dh);
      return Error{fmt::format("tls.ini dhparam: {}: {}", path ? path->string() : side.dhparam,
                               lastOpenSslError())};
    }
  } else if (server) {
    SSL_CTX_set_dh_auto(ctx, 1);
  }
  int verify = SSL_VERIFY_NONE;
  if (server && side.request_cert) {
    verify = SSL_VERIFY_PEER;
  }
  if (!server) {
    verify = SSL_VERIFY_PEER; // the result is checked per destination after the handshake
  }
  SSL_CTX_set_verify(ctx, verify, side.reject_unauthorized ? nullptr : acceptAnyCertificate);
  return true;
}

Result<bool> useKeyAndChain(SSL_CTX* ctx, const std::string& key_path,
                            const std::string& cert_path) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1) {
    return Error{
        fmt::format("{}: not a usable certificate chain: {}", cert_path, lastOpenSslError())};
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Error{fmt::format("{}: not a usable private key: {}", key_path, lastOpenSslError())};
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Error{fmt::format("{} does not match the certificate in {}: {}", key_path, cert_path,
                             lastOpenSslError())};
  }
  return true;
}

Result<ContextPtr> serverContext(config::Config& config, const TlsSideConfig& side,
                                 const std::string& key_path, const std::string& cert_path) {
  ContextPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    return Error{"SSL_CTX_new: " + lastOpenSslError()};
  }
  if (auto ok = applySide(ctx.get(), config, side, true); !ok) {
    return Error{ok.error()};
  }
  if (auto ok = useKeyAndChain(ctx.get(), key_path, cert_path); !ok) {
    return Error{ok.error()};
  }
  static const unsigned char session_context[] = "upesi-smtp";
  SSL_CTX_set_session_id_context(ctx.get(), session_context, sizeof session_context - 1);
  return ctx;
}

// DNS names of a certificate: subjectAltName entries, else the common name.
std::vector<std::string> certificateNames(SSL_CTX* ctx) {
  std::vector<std::string> names;
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) {
    return names;
  }
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
    if (name->type == GEN_DNS) {
      const auto* s = name->d.dNSName;
      names.push_back(
          text::toLower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    static_cast<std::size_t>(ASN1_STRING_length(s)))));
    }
  }
  GENERAL_NAMES_free(sans);
  if (names.empty()) {
    char cn[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn - 1) >
        0) {
      names.push_back(text::toLower(cn));
    }
  }
  return names;
}

int onServerName(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* tls = static_cast<const ServerTls*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name != nullptr) {
    if (SSL_CTX* chosen = tls->contextForName(name)) {
      SSL_set_SSL_CTX(ssl, chosen);
      // SSL_set_SSL_CTX takes the certificate only; the verification mode goes with it.
      SSL_set_verify(ssl, SSL_CTX_get_verify_mode(chosen), SSL_CTX_get_verify_callback(chosen));
    }
  }
  return SSL_TLSEXT_ERR_OK; // unknown names get the default certificate
}

} // namespace

void ContextFree::operator()(SSL_CTX* context) const {
  SSL_CTX_free(context);
}

ServerTls::~ServerTls() = default;

Result<std::shared_ptr<const ServerTls>> ServerTls::load(config::Config& config,
                                                         const TlsConfig& settings) {
  std::shared_ptr<ServerTls> tls(new ServerTls());
  tls->settings_ = settings;
  auto key = config.resolve(settings.server.key);
  auto cert = config.resolve(settings.server.cert);
  if (!key || !cert) {
    return Error{fmt::format("tls.ini: {}", !key ? key.error() : cert.error())};
  }
  std::error_code ec;
  for (const auto& path : {*key, *cert}) {
    if (!std::filesystem::exists(path, ec)) {
      return Error{fmt::format("{}: no such file (the tls plugin needs a key and a certificate; "
                               "see `upesi -h tls`)",
                               path.string())};
    }
  }
  auto main_ctx = serverContext(config, settings.server, key->string(), cert->string());
  if (!main_ctx) {
    return Error{main_ctx.error()};
  }
  tls->default_ = std::move(*main_ctx);
  tls->files_ = {settings.server.key, settings.server.cert};

  auto dir = config.resolve(settings.sni_dir);
  if (dir && std::filesystem::is_directory(*dir, ec)) {
    std::vector<std::filesystem::path> pems;
    for (const auto& entry : std::filesystem::directory_iterator(*dir, ec)) {
      if (entry.path().extension() == ".pem" && entry.is_regular_file(ec)) {
        pems.push_back(entry.path());
      }
    }
    std::sort(pems.begin(), pems.end()); // the first file wins a name, whatever readdir says
    for (const auto& pem : pems) {
      auto ctx = serverContext(config, settings.server, pem.string(), pem.string());
      if (!ctx) {
        return Error{ctx.error()};
      }
      for (const auto& name : certificateNames(ctx->get())) {
        tls->by_name_.emplace(name, ctx->get());
      }
      tls->files_.push_back(settings.sni_dir + "/" + pem.filename().string());
      tls->by_file_.push_back(std::move(*ctx));
    }
  }
  SSL_CTX_set_tlsext_servername_callback(tls->default_.get(), onServerName);
  SSL_CTX_set_tlsext_servername_arg(tls->default_.get(), tls.get());
  return std::shared_ptr<const ServerTls>(std::move(tls));
}

std::vector<std::string> ServerTls::sniNames() const {
  std::vector<std::string> names;
  for (const auto& [name, ctx] : by_name_) {
    names.push_back(name);
  }
  return names;
}

SSL_CTX* ServerTls::contextForName(std::string name) const {
  name = text::toLower(std::move(name));
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    return it->second;
  }
  // A wildcard covers exactly one label.
  if (auto dot = name.find('.'); dot != std::string::npos) {
    if (auto it = by_name_.find(std::string("*").append(name, dot)); it != by_name_.end()) {
      return it->second;
    }
  }
  return nullptr;
}

Result<std::shared_ptr<const ServerTls>> loadInboundTls(config::Config& config) {
  auto settings = readTlsConfig(config);
  if (!settings) {
    return Error{settings.error()};
  }
  return ServerTls::load(config, *settings);
}

void useSystemCertificates(SSL_CTX* ctx) {
  SSL_CTX_set_default_verify_dir(ctx);
}

Result<ContextPtr> makeClientContext(config::Config& config, const TlsSideConfig& side) {
  ContextPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    return Error{"SSL_CTX_new: " + lastOpenSslError()};
  }
  if (auto ok = applySide(ctx.get(), config, side, false); !ok) {
    return Error{ok.error()};
  }
  // DANE (RFC 7672) per connection needs it on the context; nothing changes for a connection
  // without TLSA records.
  if (SSL_CTX_dane_enable(ctx.get()) <= 0) {
    return Error{"SSL_CTX_dane_enable: " + lastOpenSslError()};
  }
  auto key = config.resolve(side.key);
  auto cert = config.resolve(side.cert);
  std::error_code ec;
  if (key && cert && std::filesystem::exists(*key, ec) && std::filesystem::exists(*cert, ec)) {
    if (auto ok = useKeyAndChain(ctx.get(), key->string(), cert->string()); !ok) {
      return Error{ok.error()};
    }
  }
  return ctx;
}

} // namespace upesi::tls
