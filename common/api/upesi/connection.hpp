// Connection and Transaction as a plugin sees them (Haraka's connection and
// connection.transaction). Both are owned by the server; a plugin holds them only for the
// duration of a hook, and must not keep references past the `next` call.
//
// Threading: the loop thread, except Transaction::writeMessage, which a queue plugin may call
// from a thread-pool job while its queue hook is pending (the message does not change then).
#pragma once

#include <upesi/address.hpp>
#include <upesi/body.hpp>
#include <upesi/code.hpp>
#include <upesi/envelope_options.hpp>
#include <upesi/esmtp_claims.hpp>
#include <upesi/hook.hpp>
#include <upesi/outbound.hpp>
#include <upesi/results.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi {

using EsmtpParams = std::vector<std::pair<std::string, std::string>>;

struct HookParams;
class HttpRouter;
class WebSocketRegistry;

/// What the deny hook is told about the rejection it may override (Haraka's deny params:
/// [code, msg, plugin, function, params, hook]).
struct DenyInfo {
  Code code = Code::Deny;
  std::vector<std::string> message;
  std::string plugin;
  std::string method;
  Hook hook = Hook::Connect;
  const HookParams* params = nullptr; ///< the denied hook's own arguments (its address...)
};

/// An AUTH exchange the core has finished reading (RFC 4954), for the `auth` hook. A plugin
/// answers OK (credentials good), DENY (bad), DENYSOFT (cannot tell now: 454) or CONT (not
/// mine: the next auth plugin). Nobody saying OK is a failure.
struct AuthAttempt {
  std::string method;   ///< "PLAIN", "LOGIN" or "CRAM-MD5"
  std::string user;     ///< the authentication identity
  std::string password; ///< PLAIN and LOGIN only; empty for CRAM-MD5
  /// True if `secret` is this user's password: compares in constant time for PLAIN/LOGIN and
  /// checks the HMAC-MD5 digest for CRAM-MD5, so plugins that know the plain password need
  /// nothing else.
  std::function<bool(std::string_view secret)> matches;
};

/// A hook's arguments beyond the connection (Haraka's `params`); only the fields that belong to
/// the running hook are set.
struct HookParams {
  const Address* address = nullptr;   ///< mail (sender), rcpt and rcpt_ok (recipient)
  const EsmtpParams* esmtp = nullptr; ///< mail, rcpt: MAIL/RCPT parameters, keywords upper-case
  EsmtpClaims* claims = nullptr;      ///< mail, rcpt: the parameters a plugin must claim
  std::string_view host;              ///< helo, ehlo: the name the client gave
  /// unrecognized_command, the hook it names with HOOK_NEXT, and vrfy: the command word,
  /// upper-case
  std::string_view verb;
  std::string_view argument;                ///< the same: the rest of the line
  std::string_view message;                 ///< queue_ok: the queue's reply text
  const DenyInfo* deny = nullptr;           ///< deny
  HMail* hmail = nullptr;                   ///< outbound hooks: the queued item
  std::string_view domain;                  ///< get_mx: the destination domain
  const DeferredInfo* deferred = nullptr;   ///< deferred
  const BounceInfo* bounce = nullptr;       ///< bounce
  const DeliveredInfo* delivered = nullptr; ///< delivered
  const AuthAttempt* auth = nullptr;        ///< auth
  HttpRouter* http = nullptr;               ///< init_http: add routes here
  WebSocketRegistry* wss = nullptr;         ///< init_wss: add websocket endpoints here
  /// rcpt: the same recipient as `address`, for a plugin to rewrite (Haraka's
  /// `params[0] = new Address(...)`, as aliases does): later rcpt plugins, rcpt_ok, the reply and
  /// the transaction's recipient list then see the new address. (Appended in API version 4.)
  Address* recipient = nullptr;
};

struct Endpoint {
  std::string ip;
  std::uint16_t port = 0;
  std::string host;        ///< remote: rDNS name once looked up; local: this server's name (`me`)
  bool is_private = false; ///< RFC 1918 / ULA / loopback / link-local
  bool is_local = false;   ///< loopback
};

/// A new body being written (Transaction::replaceBody). Appending is cheap: past the server's
/// spool_after it goes to a private file, as a received message does.
class BodyReplacement {
public:
  virtual ~BodyReplacement() = default;
  /// More of the new body, unstuffed; lone LF line ends become CRLF. False after an I/O error
  /// (the old body then stays).
  virtual bool append(std::string_view bytes) = 0;
  /// The new body becomes the message's (a banner set earlier is not applied to it). False if
  /// it could not be kept; the old body stays. A writer dropped without commit() changes nothing.
  virtual bool commit() = 0;
};

struct MessageWriteOptions {
  bool dot_stuffed = false; ///< double leading dots, as on the wire or in a Haraka queue file
  bool crlf = true;         ///< CRLF line ends (false: LF)
};

class Transaction {
public:
  virtual ~Transaction() = default;

  /// "<connection uuid>.<n>", n counting transactions from 1.
  virtual const std::string& uuid() const = 0;
  virtual const Address& mailFrom() const = 0;
  virtual const EsmtpParams& mailParams() const = 0;
  /// The accepted recipients; a plugin may rewrite them (aliases).
  virtual std::vector<Address>& rcptTo() = 0;

  virtual nlohmann::json& notes() = 0;
  virtual Results& results() = 0;

  /// Message size in bytes as received (after the final dot), 0 before.
  virtual std::uint64_t dataBytes() const = 0;

  // The header, parsed after DATA (data_post and later). Names are case-insensitive.
  virtual std::string header(std::string_view name) const = 0;
  virtual std::vector<std::string> headers(std::string_view name) const = 0;
  virtual void addHeader(std::string_view name, std::string_view value) = 0;
  virtual void addLeadingHeader(std::string_view name, std::string_view value) = 0;
  virtual void removeHeader(std::string_view name) = 0;

  /// Streams the message (current header, then the body) to `sink` in chunks; a sink returning
  /// false stops it. Returns false if the message could not be read or the sink stopped.
  virtual bool writeMessage(const std::function<bool(std::string_view)>& sink,
                            const MessageWriteOptions& options = {}) const = 0;

  // The body as MIME parts (body.hpp). Both requests must come in hook_data or earlier: the
  // body is parsed while it streams in, never read back afterwards.

  /// Haraka's `transaction.parse_body = true`: body() keeps the text of text parts.
  virtual void parseBody(bool parse) { (void)parse; }
  virtual bool parseBody() const { return false; }
  /// The parsed body from data_post on, if parseBody(true) or attachmentHooks() was asked for
  /// in time; nullptr otherwise. Without parseBody(true) the tree has no text.
  virtual const BodyPart* body() const { return nullptr; }
  /// Haraka's `transaction.attachment_hooks(start)`: `start` is called for each attachment as
  /// its header arrives, and its handlers get the decoded bytes while the message streams in.
  /// They run on the loop and must not block it. When the message is refused before its end,
  /// `end` is not called.
  virtual void attachmentHooks(AttachmentStart start) { (void)start; }
  /// Haraka's `transaction.set_banner(text, html)`: `text` goes at the end of each text/plain
  /// part that is not an attachment, `html` (empty: `text` with "<br/>" at each line break)
  /// before the </body> of each text/html part, encoded as the part is. Every writer of the
  /// message (the queue, queue plugins) writes it with the banner.
  virtual void setBanner(std::string_view text, std::string_view html = {}) {
    (void)text;
    (void)html;
  }

  // Added in the same API version (appended: the members above keep their vtable slots).

  /// MAIL's DSN, REQUIRETLS and MT-PRIORITY parameters, parsed (the mail hook sees them set).
  virtual const MailOptions& mailOptions() const {
    static const MailOptions none;
    return none;
  }
  /// RCPT's NOTIFY and ORCPT for the recipient with `recipient`'s address(); defaults when it
  /// gave none (or a plugin put it on the list). Set before the rcpt hook runs.
  virtual RcptOptions rcptOptions(const Address& recipient) const {
    (void)recipient;
    return {};
  }

  /// Haraka's message_stream, as it arrives: `handlers.data` gets the message as stored (the
  /// header as received, the empty line, the body; unstuffed, CRLF line ends) in chunks while
  /// DATA or BDAT streams in, and `handlers.end` once after the last byte, before data_post.
  /// Ask in hook_data or earlier. The handlers run on the loop and must not block it: hash or
  /// scan, never keep the bytes. When the message is refused before its end, `end` is not
  /// called.
  virtual void streamMessage(StreamHandlers handlers) { (void)handlers; }

  // Added in API version 5 (appended): the changes a milter may make at the end of a message,
  // for any plugin to make from data_post on. They show in every later writer of the message
  // (the queue file, queue plugins); body() and the streamed bytes stay those received.

  /// Replaces the envelope sender and MAIL's parameters (a milter's change-sender).
  virtual void setMailFrom(const Address& sender, const EsmtpParams& params) {
    (void)sender;
    (void)params;
  }
  /// Sets NOTIFY and ORCPT for a recipient on rcptTo() (one a plugin added, say).
  virtual void setRcptOptions(const Address& recipient, const RcptOptions& options) {
    (void)recipient;
    (void)options;
  }
  /// Inserts a field at `index` among the header's fields (0: first; past the end: last), as a
  /// milter's insert-header. `value` as it follows the colon, without the leading space; LF
  /// line ends in it are written as CRLF.
  virtual void insertHeader(std::size_t index, std::string_view name, std::string_view value) {
    (void)index;
    (void)name;
    (void)value;
  }
  /// Changes the `occurrence`th (from 1) field named `name` (case-insensitive) to `value`; an
  /// empty value deletes it; with fewer such fields it is added at the end (as Postfix and
  /// Sendmail do for a milter's change-header).
  virtual void changeHeader(std::string_view name, std::size_t occurrence, std::string_view value) {
    (void)name;
    (void)occurrence;
    (void)value;
  }
  /// Starts a new body for the message (what follows the header and its empty line): bytes
  /// appended to the writer replace the body once it is committed. Null if this server cannot.
  virtual std::unique_ptr<BodyReplacement> replaceBody() { return nullptr; }
};

/// The TLS a connection runs over (Haraka's connection.tls), once STARTTLS or implicit TLS has
/// finished its handshake.
struct TlsInfo {
  bool enabled = false;
  bool verified = false; ///< the client's certificate verified
  std::string version;   ///< "TLSv1.3"
  std::string cipher;    ///< "TLS_AES_256_GCM_SHA384"
  int cipher_bits = 0;
  std::string server_name; ///< SNI the client sent
  bool peer_certificate = false;
  std::string verify_error; ///< why the client's certificate did not verify
  std::string peer_subject;
  std::string peer_issuer;
  std::string peer_fingerprint; ///< SHA-256, hex
};

class Connection {
public:
  virtual ~Connection() = default;

  virtual const std::string& uuid() const = 0;
  virtual const Endpoint& remote() const = 0;
  virtual const Endpoint& local() const = 0;
  /// "HELO" or "EHLO" and the name given; empty before either.
  virtual const std::string& helloVerb() const = 0;
  virtual const std::string& helloHost() const = 0;
  virtual bool tls() const = 0;
  virtual const TlsInfo& tlsInfo() const {
    static const TlsInfo none;
    return none;
  }
  /// The user a successful AUTH named (also in notes.auth_user, as in Haraka); empty if none.
  virtual const std::string& authUser() const {
    static const std::string none;
    return none;
  }

  /// Relaying (Haraka's connection.relaying): stored on the transaction while one is open, so it
  /// resets with it; on the connection otherwise. Turned on by a rcpt or rcpt_ok hook, it
  /// vouches for that recipient alone: it is off again for the next RCPT, and a transaction
  /// with such a recipient is queued as relayed (queue_outbound).
  virtual bool relaying() const = 0;
  virtual void setRelaying(bool relaying) = 0;

  virtual nlohmann::json& notes() = 0;
  virtual Results& results() = 0;

  /// The open transaction (after MAIL FROM), or nullptr.
  virtual Transaction* transaction() = 0;
  /// The same, shared: a plugin that hands the transaction to the thread pool keeps it alive
  /// with this, whatever the client does meanwhile.
  virtual std::shared_ptr<Transaction> sharedTransaction() = 0;

  /// The EHLO keywords offered; the capabilities hook may add to them.
  virtual std::vector<std::string>& capabilities() = 0;

  /// Number of transactions started on this connection.
  virtual unsigned transactionCount() const = 0;
  /// True if the client sent before it was allowed to (before the banner, or mid-pipeline).
  virtual bool earlyTalker() const = 0;
  /// Closes the connection after pending replies are written; hooks still pending are dropped.
  virtual void disconnect() = 0;

  // API version 6, last, so the slots above keep their place.

  /// Commands refused on this connection so far (Haraka's connection.errors).
  virtual unsigned errorCount() const { return 0; }

  /// The hook running now (Haraka's connection.hook), so that one handler registered on
  /// several hooks can tell them apart; toString(hook()) is its name. Set by the server before
  /// each plugin is called; a plugin has no reason to set it.
  Hook hook() const { return hook_; }
  void setHook(Hook hook) { hook_ = hook; }

private:
  Hook hook_ = Hook::ConnectInit;
};

} // namespace upesi
