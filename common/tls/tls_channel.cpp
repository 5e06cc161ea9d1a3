#include "common/tls/tls_channel.hpp"

#include "common/util/ip_literal.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace upesi::tls {
namespace {

std::string nameText(X509_NAME* name) {
  if (name == nullptr) {
    return {};
  }
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return text;
}

} // namespace

std::string lastOpenSslError() {
  unsigned long code = ERR_get_error();
  std::string text;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    text = buf;
  }
  ERR_clear_error();
  return text;
}

TlsChannel::TlsChannel(SSL* ssl) : ssl_(ssl) {}

TlsChannel::~TlsChannel() {
  SSL_free(ssl_); // frees both BIOs
}

static Result<SSL*> newSsl(SSL_CTX* context) {
  SSL* ssl = SSL_new(context);
  if (ssl == nullptr) {
    return Error{"SSL_new: " + lastOpenSslError()};
  }
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    SSL_free(ssl);
    return Error{"BIO_new failed"};
  }
  // An empty input BIO means "wait for more", not end of file.
  BIO_set_mem_eof_return(in, -1);
  BIO_set_mem_eof_return(out, -1);
  SSL_set_bio(ssl, in, out);
  return ssl;
}

Result<std::unique_ptr<TlsChannel>> TlsChannel::server(SSL_CTX* context) {
  auto ssl = newSsl(context);
  if (!ssl) {
    return Error{ssl.error()};
  }
  SSL_set_accept_state(*ssl);
  return std::unique_ptr<TlsChannel>(new TlsChannel(*ssl));
}

Result<std::unique_ptr<TlsChannel>> TlsChannel::client(SSL_CTX* context,
                                                       const std::string& server_name,
                                                       bool verify_name,
                                                       const std::vector<std::string>& match_names,
                                                       const std::vector<dns::TlsaRecord>& tlsa) {
  auto ssl = newSsl(context);
  if (!ssl) {
    return Error{ssl.error()};
  }
  std::unique_ptr<TlsChannel> channel(new TlsChannel(*ssl));
  SSL_set_connect_state(*ssl);
  if (!server_name.empty() && !isIpLiteral(server_name)) {
    SSL_set_tlsext_host_name(*ssl, server_name.c_str());
  }
  if (!tlsa.empty()) {
    // RFC 7672 3.1: DANE-EE ignores the names and dates; DANE-TA checks the names against the
    // base domain (the MX host), as OpenSSL does with the flag below.
    if (SSL_dane_enable(*ssl, server_name.c_str()) <= 0) {
      return Error{"SSL_dane_enable: " + lastOpenSslError()};
    }
    SSL_dane_set_flags(*ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    int usable = 0;
    for (const auto& record : tlsa) {
      if (record.usage < 2) {
        continue; // RFC 7672 3.1.3: PKIX usages are not for SMTP
      }
      if (SSL_dane_tlsa_add(*ssl, record.usage, record.selector, record.matching,
                            reinterpret_cast<const unsigned char*>(record.data.data()),
                            record.data.size()) > 0) {
        ++usable;
      }
    }
    if (usable == 0) {
      return Error{"no usable TLSA record"};
    }
    return channel;
  }
  if (verify_name && !match_names.empty()) {
    // Any of these names will do; one starting with a dot matches its subdomains (OpenSSL's
    // X509_check_host), as Postfix's "dot-nexthop".
    SSL_set1_host(*ssl, match_names.front().c_str());
    for (std::size_t i = 1; i < match_names.size(); ++i) {
      SSL_add1_host(*ssl, match_names[i].c_str());
    }
  } else if (verify_name && !server_name.empty()) {
    if (isIpLiteral(server_name)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(*ssl), server_name.c_str());
    } else {
      SSL_set1_host(*ssl, server_name.c_str());
    }
  }
  return channel;
}

void TlsChannel::feed(std::string_view ciphertext) {
  if (!ciphertext.empty()) {
    BIO_write(SSL_get_rbio(ssl_), ciphertext.data(), static_cast<int>(ciphertext.size()));
  }
}

void TlsChannel::recordError(const char* what, int ssl_error) {
  std::string detail = lastOpenSslError();
  if (detail.empty()) {
    detail =
        ssl_error == SSL_ERROR_SYSCALL ? "connection closed" : fmt::format("error {}", ssl_error);
  }
  error_ = fmt::format("{}: {}", what, detail);
}

TlsChannel::Progress TlsChannel::handshake() {
  if (established_) {
    return Progress::Done;
  }
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    established_ = true;
    return Progress::Done;
  }
  int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    return Progress::WantMore;
  }
  recordError("TLS handshake failed", err);
  return Progress::Failed;
}

bool TlsChannel::read(std::string& plaintext) {
  char buf[16384];
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      plaintext.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      return true;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      error_ = "peer closed the TLS session";
      return false;
    }
    recordError("TLS read failed", err);
    return false;
  }
}

bool TlsChannel::write(std::string_view plaintext) {
  while (!plaintext.empty()) {
    ERR_clear_error();
    std::size_t written = 0;
    int rc = SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written);
    if (rc != 1) {
      recordError("TLS write failed", SSL_get_error(ssl_, rc));
      return false;
    }
    plaintext.remove_prefix(written);
  }
  return true;
}

void TlsChannel::shutdown() {
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

bool TlsChannel::isServer() const {
  return SSL_is_server(ssl_) == 1;
}

bool TlsChannel::hasOutput() const {
  return BIO_ctrl_pending(SSL_get_wbio(ssl_)) > 0;
}

std::string TlsChannel::takeOutput() {
  BIO* out = SSL_get_wbio(ssl_);
  std::string bytes(BIO_ctrl_pending(out), '\0');
  if (!bytes.empty()) {
    int n = BIO_read(out, bytes.data(), static_cast<int>(bytes.size()));
    bytes.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  return bytes;
}

TlsDetails TlsChannel::details() const {
  TlsDetails d;
  d.version = SSL_get_version(ssl_);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_)) {
    d.cipher = SSL_CIPHER_get_name(cipher);
    d.cipher_bits = SSL_CIPHER_get_bits(cipher, nullptr);
  }
  if (const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) {
    d.server_name = name;
  }
  if (X509* peer = SSL_get1_peer_certificate(ssl_)) {
    d.peer_certificate = true;
    d.peer_subject = nameText(X509_get_subject_name(peer));
    d.peer_issuer = nameText(X509_get_issuer_name(peer));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(peer, EVP_sha256(), md, &len) == 1) {
      for (unsigned i = 0; i < len; ++i) {
        d.peer_fingerprint += fmt::format("{:02x}", md[i]);
      }
    }
    long result = SSL_get_verify_result(ssl_);
    d.verified = result == X509_V_OK;
    if (!d.verified) {
      d.verify_error = X509_verify_cert_error_string(result);
    }
    X509_free(peer);
  }
  return d;
}

} // namespace upesi::tls
