// TlsChannel: one TLS connection over OpenSSL memory BIOs. It does no I/O itself: ciphertext
// read from the socket is fed in and plaintext comes out; plaintext to send goes in and
// ciphertext for the socket comes out. The SMTP session (server side) and the SMTP client
// (client side) share it whatever their transport, and a handshake step can run on another
// thread while the loop keeps going (see TlsStream).
//
// Threading: one thread at a time.
#pragma once

#include "common/dns/tlsa.hpp"
#include "common/util/result.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

using SSL = struct ssl_st;
using SSL_CTX = struct ssl_ctx_st;

namespace upesi::tls {

/// What a finished handshake agreed on; the session shows it to plugins and in Received.
struct TlsDetails {
  std::string version; // "TLSv1.3"
  std::string cipher;  // OpenSSL's name, "TLS_AES_256_GCM_SHA384"
  int cipher_bits = 0;
  std::string server_name; // SNI the client asked for (server side), or the one we sent
  bool peer_certificate = false;
  bool verified = false;    // the peer's certificate chain verified
  std::string verify_error; // why not, when a certificate was presented
  std::string peer_subject; // RFC 2253 subject of the peer certificate
  std::string peer_issuer;
  std::string peer_fingerprint; // SHA-256, hex
};

class TlsChannel {
public:
  enum class Progress {
    Done,     // handshake finished
    WantMore, // needs more input from the peer
    Failed,
  };

  /// A server-side channel; the context's SNI callback may switch it to another context.
  static Result<std::unique_ptr<TlsChannel>> server(SSL_CTX* context);
  /// A client-side channel. `server_name` goes in SNI (not for IP literals) and, when
  /// `verify_name` is set, the certificate must match it, or one of `match_names` if any.
  /// With `tlsa` (DANE, RFC 7672: DANE-TA and DANE-EE records, DNSSEC-validated), the
  /// certificate is verified against those records instead, `server_name` the TLSA base
  /// domain; an error when none of them is usable.
  static Result<std::unique_ptr<TlsChannel>>
  client(SSL_CTX* context, const std::string& server_name, bool verify_name,
         const std::vector<std::string>& match_names = {},
         const std::vector<dns::TlsaRecord>& tlsa = {});

  ~TlsChannel();
  TlsChannel(const TlsChannel&) = delete;
  TlsChannel& operator=(const TlsChannel&) = delete;

  /// Ciphertext received from the peer.
  void feed(std::string_view ciphertext);

  /// Advances the handshake with what has been fed. The expensive step (key exchange,
  /// signatures) happens here.
  Progress handshake();
  bool established() const { return established_; }
  bool isServer() const;

  /// Decrypts what has been fed, appending to `plaintext`. False once the peer closed the TLS
  /// session or on a protocol error (see error()).
  bool read(std::string& plaintext);

  /// Encrypts `plaintext`; the records are then in takeOutput(). False on error.
  bool write(std::string_view plaintext);

  /// Sends close_notify (to takeOutput()).
  void shutdown();

  /// Ciphertext waiting to go to the peer.
  std::string takeOutput();
  bool hasOutput() const;

  const std::string& error() const { return error_; }
  TlsDetails details() const;

private:
  explicit TlsChannel(SSL* ssl);
  void recordError(const char* what, int ssl_error);

  SSL* ssl_;
  bool established_ = false;
  std::string error_;
};

/// The newest OpenSSL error on this thread as text, and the queue cleared.
std::string lastOpenSslError();

} // namespace upesi::tls
