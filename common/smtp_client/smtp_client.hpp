// SmtpClient: one SMTP or LMTP connection to a next hop, for outbound delivery.
//
//   connect()  TCP connect (optionally from a bind address), TLS at once for SMTPS, greeting,
//              EHLO (HELO when EHLO gets a 5xx) or LHLO, capabilities; then STARTTLS and EHLO
//              again, and AUTH, as ClientOptions::tls and ::auth ask
//   send()     one message: MAIL, RCPT per recipient, DATA, the body, the final dot; pipelined
//              when the server offers PIPELINING, the next message's MAIL, RCPT and DATA then
//              going out right after a final dot, before its reply (acceptsAnother());
//              in LMTP one final reply per accepted recipient;
//              DSN, REQUIRETLS and MT-PRIORITY parameters passed on where the server offers them
//   reset()    RSET, quit() QUIT, close() drop the connection now
//
// Everything runs on the caller's uv_loop_t and nothing blocks. One operation at a time (but a
// message pipelined behind another's reply); its
// callback is called exactly once, always from the loop (never from inside the call that
// started it), unless close() or the destructor came first: then it is never called.
// Every failure is a value with a reason a human can read ("connection refused", "timeout
// waiting for greeting", "421 4.3.2 shutting down") and an outcome: temporary or permanent.
//
// Messages come from a MessageSource (message_source.hpp), already dot-stuffed with CRLF line
// ends as the queue stores them, and go out as they are, a chunk at a time, reading the next
// chunk only while less than `write_high_water` bytes wait for the socket.
//
// The pure parts are beside it, each with its tests: capabilities.hpp reads the EHLO reply,
// transaction_result.hpp makes a transaction's replies into the result send() gives.
// quitting_clients.hpp keeps clients saying QUIT after their owner is done with them.
//
// Lifetime: the SmtpClient may be destroyed at any time, including inside one of its own
// callbacks. Its socket (a net::Transport, which also does TLS) lives in a heap object that is
// freed only in the socket's close callback, on a later loop turn.
//
// Threading: the loop thread.
#pragma once

#include <upesi/address.hpp>
#include <upesi/envelope_options.hpp>

#include "common/dns/tlsa.hpp"
#include "common/smtp_client/capabilities.hpp"
#include "common/smtp_client/message_source.hpp"
#include "common/smtp_client/reply_parser.hpp"
#include "common/smtp_client/sasl_client.hpp"
#include "common/smtp_client/status.hpp"
#include "common/smtp_client/transaction_result.hpp"
#include "common/tls/tls_channel.hpp"
#include "common/util/result.hpp"

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upesi::smtp_client {

using namespace std::chrono_literals;

/// RFC 5321 §4.5.3.2, with the connect timeout of common practice.
struct Timeouts {
  std::chrono::milliseconds connect = 30s;
  std::chrono::milliseconds greeting = 300s;
  /// EHLO/HELO/LHLO, STARTTLS, AUTH, MAIL, RCPT, RSET, QUIT, and the TLS handshake
  std::chrono::milliseconds command = 300s;
  std::chrono::milliseconds data = 120s;       ///< the reply to DATA (354)
  std::chrono::milliseconds data_block = 180s; ///< each part of the body to leave for the socket
  std::chrono::milliseconds final_dot = 600s;  ///< the reply(s) to the final dot
};

enum class TlsMode {
  Off,
  Opportunistic, ///< STARTTLS when offered; a failed handshake fails the attempt
                 ///< (Security::tls_failed)
  Required,      ///< STARTTLS or nothing: not offered, refused or failed is a temporary failure
  Implicit,      ///< SMTPS: TLS from the first byte (port 465)
};
const char* toString(TlsMode mode);

struct TlsOptions {
  SSL_CTX* context = nullptr; ///< tls::makeClientContext's, outliving the client; null: no TLS
  TlsMode mode = TlsMode::Off;
  /// SNI and the name the certificate must match; empty: ClientOptions::host, else the IP
  /// (matched against the certificate's IP addresses, never sent in SNI).
  std::string name;
  bool verify = false; ///< a certificate that does not verify (chain or name) fails, temporarily
  /// With `verify`: the names the certificate may match instead of `name` (".example.com":
  /// any subdomain); empty: `name`.
  std::vector<std::string> match_names;
  /// DANE (RFC 7672): the MX host's DNSSEC-validated TLSA records; non-empty, the certificate
  /// must match one of them (with `verify`), `name` being the TLSA base domain.
  std::vector<dns::TlsaRecord> tlsa;
};

struct AuthOptions {
  std::string user; ///< empty: no AUTH
  std::string password;
  std::string type; ///< "CRAM-MD5", "PLAIN" or "LOGIN"; empty: the best the server offers
  /// When the server offers no mechanism we can use (no AUTH at all, or not `type`): false
  /// sends without AUTH after a warning, as Haraka does; true fails the attempt (temporary).
  bool required = false;
};

struct ClientOptions {
  std::string ip; ///< the next hop's address, IPv4 or IPv6
  std::uint16_t port = 25;
  std::string host;               ///< its name (the MX host), for results and logs; may be empty
  std::string local_ip;           ///< bind to this address before connecting; empty: any
  std::string helo = "localhost"; ///< the name we give in EHLO/HELO/LHLO
  bool lmtp = false;
  bool use_pipelining = true; ///< pipeline MAIL/RCPT/DATA when the server offers PIPELINING
  /// and let the next message follow a final dot before its reply (acceptsAnother)
  bool pipeline_messages = true;
  Timeouts timeouts;
  ReplyLimits reply_limits;
  std::size_t write_high_water = 256 * 1024;
  std::size_t chunk_size = 64 * 1024; ///< asked of the MessageSource at a time
  std::string log_id;                 ///< uuid for the log lines (the queue item's)
  TlsOptions tls;
  AuthOptions auth;
};

/// What protected the session, as far as it got; for the delivered hook's `secured` and
/// `authenticated`.
/// Why a session that had to be protected was not (TLS-RPT's result types come from it).
enum class TlsFailure {
  None,
  StarttlsMissing,    ///< TLS required, the server offered or accepted no STARTTLS
  Handshake,          ///< the handshake failed
  CertificateInvalid, ///< the certificate did not verify (TlsDetails::verify_error says why)
  TlsaMismatch,       ///< DANE: the certificate matched none of the TLSA records
};

struct Security {
  std::optional<tls::TlsDetails> tls; ///< set once a handshake finished: version, cipher, verified
  TlsFailure failure = TlsFailure::None;
  /// The handshake failed, stalled or was cut off. With TlsMode::Opportunistic, a retry without
  /// TLS may get through (Haraka then remembers the host as one that gets no STARTTLS).
  bool tls_failed = false;
  std::optional<SaslMechanism> auth; ///< set once AUTH succeeded

  bool secured() const { return tls.has_value(); }
  bool authenticated() const { return auth.has_value(); }
};

struct Remote {
  std::string host;
  std::string ip;
  std::uint16_t port = 0;
};

struct Envelope {
  Address sender; ///< is_null for the null reverse-path <>
  std::vector<Address> recipients;
  std::optional<std::uint64_t> size; ///< the message's size in bytes, if known (SIZE=)
  bool eight_bit = true; ///< may hold 8-bit bytes: BODY=8BITMIME when the server offers it
  /// RET, ENVID and MT-PRIORITY go to a server that offers DSN / MT-PRIORITY. REQUIRETLS is
  /// sent, and needed: without verified TLS and the server's REQUIRETLS the message is refused
  /// (permanent, 5.7.30, RFC 8689 4.2.1) before MAIL.
  MailOptions options;
  /// NOTIFY and ORCPT per recipient (same order; missing entries: none), to a DSN server.
  std::vector<RcptOptions> rcpt_options;
};

struct DeliveryResult {
  /// Ok: the server took it for at least one recipient. It and the recipients' statuses are
  /// summarizeTransaction()'s.
  Status message;
  std::vector<RecipientResult> recipients; ///< in the envelope's order
  Remote remote;
  bool lmtp = false;
  bool reusable = false; ///< the connection is idle and healthy: another send() may follow
  Security security;
};

class SmtpClient {
public:
  using ConnectDone = std::function<void(const Status&)>;
  using SendDone = std::function<void(const DeliveryResult&)>;
  using ResetDone = std::function<void(const Status&)>;
  using QuitDone = std::function<void()>;

  SmtpClient(uv_loop_t* loop, ClientOptions options);
  ~SmtpClient(); ///< drops the connection (no QUIT); no callback is called afterwards
  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;

  /// Connects, reads the greeting, says EHLO/HELO/LHLO, does STARTTLS and AUTH as asked. Ok:
  /// ready for send(). A failed AUTH (535) is a permanent failure of the attempt.
  void connect(ConnectDone done);
  /// Sends one message. The connection must be ready (connected, nothing in progress), or
  /// accept one more behind the message in progress (acceptsAnother()). `sent` (may be empty)
  /// is called once the message's final dot has gone out, before its reply.
  void send(Envelope envelope, std::shared_ptr<MessageSource> source, SendDone done,
            std::function<void()> sent = {});
  /// A message's final dot is out, its reply awaited, and the server pipelines: a send() now
  /// goes out at once behind it (RFC 2920 3.1), its replies after that message's. SMTP only.
  bool acceptsAnother() const;
  /// A message is in progress on the connection (or two, one pipelined behind the other), or
  /// a finished one's result is still to be handed over.
  bool busy() const;
  /// RSET, for a pooled connection between messages.
  void reset(ResetDone done);
  /// QUIT, then closes; `done` (may be empty) once the connection is closing.
  void quit(QuitDone done);
  /// Drops the connection now; a pending operation's callback is never called.
  void close();
  /// Drops the connection now; the operation in progress (each message, when one is pipelined
  /// behind another) fails with a temporary `reason`, its callback called from the loop.
  void fail(const std::string& reason);

  /// Connected, greeted, nothing in progress, and nothing seen that forbids another message.
  bool ready() const;
  const Capabilities& capabilities() const; ///< after STARTTLS, the second EHLO's
  const Remote& remote() const;
  /// Also after a failed connect(): whether TLS failed there.
  const Security& security() const;

private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

} // namespace upesi::smtp_client
