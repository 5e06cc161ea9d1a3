// Session: one SMTP connection — the RFC 5321 state machine, the hook pipeline around every
// command, and the socket it runs on.
//
// Input is read into one buffer and handled a command at a time. While a hook runs the session
// is paused: input keeps arriving (up to a bound, then reading stops) and is handled, in order,
// once the hook has answered. Replies to pipelined commands are collected and written together
// when there is nothing more to handle. DATA bytes go through the DataReader straight into the
// transaction's message; only CRLF.CRLF ends DATA.
//
// The socket, TLS and the bound on unread replies are the net::Transport's: replies written while
// input is handled are corked and leave together; a client that leaves max_output_buffer bytes
// unread is not read, and is dropped after write_timeout.
//
// Lifetime: the worker owns sessions. A session asks to be closed; the transport's close
// callback (a later loop turn, never the session's own stack) tells the worker through
// on_closed, and the worker deletes the session on a later turn still.
//
// Threading: the loop thread.
#pragma once

#include <upesi/connection.hpp>

#include "common/config/smtp_config.hpp"
#include "common/net/proxy_header.hpp"
#include "common/net/transport.hpp"
#include "common/plugin/hook_runner.hpp"
#include "common/plugin/hook_table.hpp"
#include "common/util/loop_timer.hpp"
#include "worker/smtp/auth_exchange.hpp"
#include "worker/smtp/bdat_chunks.hpp"
#include "worker/smtp/data_reader.hpp"
#include "worker/smtp/hook_arguments.hpp"
#include "worker/smtp/reply.hpp"
#include "worker/smtp/session_metrics.hpp"
#include "worker/smtp/transaction_impl.hpp"

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace upesi::dns {
class Resolver;
}
namespace upesi::outbound {
class OutboundEngine;
}
namespace upesi::tls {
class ServerTls;
}

namespace upesi::smtp {

class AuthFailures;
using plugin::HookResult;

class Session;

/// What sessions share with their worker.
struct SessionEnvironment {
  uv_loop_t* loop = nullptr;
  dns::Resolver* resolver = nullptr;              // for the default rDNS lookup; null: none
  outbound::OutboundEngine* outbound = nullptr;   // queues relayed mail; null: none
  std::shared_ptr<const plugin::HookTable> hooks; // the generation sessions start with
  config::SessionLimits limits;
  config::SessionTexts texts;
  std::string me;
  std::string spool_dir;
  std::shared_ptr<const tls::ServerTls> tls;   // certificates when the tls plugin is on; else null
  std::uint16_t smtps_port = 465;              // listeners on this port speak TLS from the start
  std::vector<std::uint16_t> submission_ports; // MAIL needs AUTH (or relaying) on these
  std::shared_ptr<AuthFailures> auth_failures; // failed AUTH per client address; may be null
  config::ProxyTrust proxy_trust;              // peers whose connections start with a PROXY header
  std::function<void(Session*)> on_closed;     // once, from the transport's close callback
  /// The client behind a trusted proxy is known (its address, or the proxy's own for LOCAL):
  /// false refuses it (over max_connections_per_ip). Unset: every client is welcome.
  std::function<bool(Session*, const std::string& client_ip)> on_client_known;
  SessionMetrics metrics; // what the sessions count
};

class Session final : public Connection, private net::TransportOwner {
public:
  /// Takes ownership of a socket accepted into net::Transport::newSocket()'s handle.
  Session(SessionEnvironment& env, uv_tcp_t* tcp);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// Runs connect_init, lookup_rdns and connect, then greets.
  void start();

  /// Graceful stop: an idle session gets 421 now, a busy one at its next command boundary.
  void shutdown();

  // upesi::Connection
  const std::string& uuid() const override { return uuid_; }
  const Endpoint& remote() const override { return remote_; }
  const Endpoint& local() const override { return local_; }
  const std::string& helloVerb() const override { return hello_verb_; }
  const std::string& helloHost() const override { return hello_host_; }
  bool tls() const override { return tls_info_ != nullptr; }
  const TlsInfo& tlsInfo() const override;
  const std::string& authUser() const override { return auth_user_; }
  bool relaying() const override;
  void setRelaying(bool relaying) override;
  nlohmann::json& notes() override { return notes_; }
  Results& results() override { return results_; }
  Transaction* transaction() override { return txn_.get(); }
  std::shared_ptr<Transaction> sharedTransaction() override { return txn_; }
  std::vector<std::string>& capabilities() override { return capabilities_; }
  unsigned transactionCount() const override { return transaction_count_; }
  bool earlyTalker() const override { return early_talker_; }
  void disconnect() override;
  unsigned errorCount() const override { return errors_; }

private:
  enum class Phase {
    ProxyHeader, // a trusted proxy's PROXY header awaited; no hook has run
    Connecting,  // connect hooks running; nothing has been said yet
    Command,
    Data,
    Closing, // disconnect hook running or replies draining
    Closed,
  };

  // net::TransportOwner
  void transportReceived(std::string_view bytes) override { received(bytes); }
  void transportGone(const net::PeerGone& gone) override;
  void transportDrained() override { outputDrained(); }
  void transportSecured() override { tlsEstablished(tls_implicit_); }
  void transportClosed() override;

  // I/O
  void onIdleTimeout();
  void received(std::string_view bytes);
  void peerGone(const std::string& why);
  void reply(int code, std::string_view enhanced, std::vector<std::string> lines);
  void reply(Reply r);
  void flush();
  void closeSocket();

  // The PROXY protocol (session_proxy.cpp)
  void awaitProxyHeader();
  void proxyReceived(std::string_view bytes);
  void proxyHeaderRead(const net::ProxyHeader& header, std::string_view rest);
  void proxyRefused(int code, std::string_view enhanced, const std::string& text);
  void cmdProxy();
  /// connect_init on (or the TLS handshake first); `early` came before any greeting.
  void beginSession(std::string_view early);

  // TLS (session_tls.cpp)
  bool implicitTls() const;
  void cmdStartTls(std::string_view argument);
  /// `ciphertext`: bytes of the client's handshake already read (after a PROXY header).
  void startTlsHandshake(bool implicit, std::string_view ciphertext = {});
  void tlsEstablished(bool implicit);
  bool starttlsOffered() const;

  // BDAT, RFC 3030 CHUNKING (session_bdat.cpp)
  void cmdBdat(std::string_view argument);
  void startBdatChunk();
  void handleBdatBytes();
  void finishBdatChunk();
  std::unique_ptr<DataReader> makeDataReader();

  // AUTH (session_auth.cpp)
  std::vector<std::string> authMechanisms() const;
  void filterAuthCapability();
  void cmdAuth(std::string_view argument);
  std::string authFailureKey() const;
  void logAuthResponse();
  void authContinue(std::string_view line);
  void authNext(AuthNext next);
  void checkCredentials(AuthAttempt attempt);
  void authRespond(HookResult result);
  void authFailed(std::string why);
  void armIdleTimer();
  void updateReading();

  // Clients that hold the connection without making progress (session_deadlines.cpp).
  bool outputFull() const { return transport_->outputFull(); }
  void outputDrained();
  bool readingMessage() const;
  void updateDeadlines();
  void checkDataRate();
  void timeOut(const std::string& why);

  // Input processing
  void processInput();
  void handleLine(std::string_view line);
  void handleDataBytes();
  void finishData();

  // Hooks
  using HookDone = std::function<void(HookResult)>;
  void runHook(Hook hook, const HookArguments& arguments, HookDone done);
  void hookFinished();
  std::string logUuid() const;

  // Connection start
  void connectInitDone();
  void connectRespond(HookResult result);
  void rdnsRespond(HookResult result);
  void defaultReverseLookup();
  void greet();
  bool denyConnection(const HookResult& result, const char* default_deny, const char* default_soft);

  // Commands
  void cmdHelo(std::string_view verb, std::string_view argument);
  void cmdMail(std::string_view argument);
  void cmdRcpt(std::string_view argument);
  void cmdData(std::string_view argument);
  void cmdRset(std::string_view argument);
  void rset(const HookArguments& arguments);
  void cmdQuit(const HookArguments& arguments);
  void cmdNoop(const HookArguments& arguments);
  void cmdVrfy(const HookArguments& arguments);
  void cmdVrfyLine(const std::string& verb, std::string_view argument);
  /// Runs the command `verb` names (the table in session_commands.cpp), else unrecognized.
  void dispatch(const std::string& verb, std::string_view argument);
  void cmdHelp();
  void cmdUnrecognized(std::string verb, std::string argument);
  void runNamedHook(const std::string& hook_name, const HookArguments& arguments);
  void connectAgain(const HookArguments& arguments); // HOOK_NEXT to lookup_rdns or connect

  // Transaction
  void resetTransaction(std::function<void()> then);
  void queueMessage();
  void enqueueOutbound();
  void queueRespond(HookResult result);
  void messageDone();
  /// `index`: the recipient's place in rcptTo() while rcpt ran.
  /// `sent`: the recipient as the client gave it, before any plugin rewrote it.
  void rcptRespond(HookResult result, const HookArguments& arguments, std::size_t index,
                   const Address& sent);
  /// `ok_text`: rcpt's own OK text, the reply if rcpt_ok agrees.
  void rcptOkRespond(HookResult result, const Address& address, const std::string& ok_text);
  /// 555 for a MAIL/RCPT parameter no plugin claimed.
  bool refuseUnclaimedParameters(const EsmtpClaims& claims);
  std::string receivedHeader() const;

  // Replies that depend on a hook's answer.
  /// DENY and its kin answered with `hook`'s codes (deny_replies.hpp); false for other codes.
  bool replyToDeny(const HookResult& result, Hook hook, std::string default_text);
  /// replyToDeny, the refusal counted as a recipient's or a message's.
  bool recipientDenied(const HookResult& result, Hook hook, std::string default_text);
  bool messageDenied(const HookResult& result, Hook hook, std::string default_text);
  /// A recipient or message refused with `code` by `plugin` ("" for the core).
  void refuseRecipient(Reply r, std::string_view plugin = {});
  void refuseMessage(Reply r, std::string_view plugin = {});
  void countError();
  /// A refusal that counts against the client's error limit (max_errors): reply, then count.
  void refuse(int code, std::string_view enhanced, std::vector<std::string> lines);
  void refuse(Reply r);

  void startClose(); // runs the disconnect hook, then closes the socket
  void finishClose();

  SessionEnvironment& env_;
  std::shared_ptr<const plugin::HookTable> hooks_;
  const config::SessionLimits& limits_;
  std::unique_ptr<net::Transport> transport_;
  std::shared_ptr<const tls::ServerTls> tls_context_;
  bool tls_implicit_ = false;         // the handshake in flight is SMTPS's, not STARTTLS's
  std::unique_ptr<TlsInfo> tls_info_; // once secured: most sessions never are
  std::string auth_user_;
  AuthExchange auth_;
  unsigned auth_failures_ = 0;
  AuthAttempt pending_auth_; // while the auth hook checks it

  BdatChunks bdat_;
  LoopTimer idle_timer_;      // inactivity_timeout, or data_timeout in DATA/BDAT
  LoopTimer auth_delay_;      // a failed AUTH is answered after auth_failure_delay
  LoopTimer line_deadline_;   // a command line begun and not finished
  LoopTimer data_deadline_;   // the whole DATA/BDAT phase
  LoopTimer data_rate_timer_; // one min_data_rate window
  LoopTimer proxy_deadline_;  // proxy_timeout for a trusted proxy's header
  std::unique_ptr<net::ProxyHeaderParser> proxy_parser_; // while the header is read
  std::uint64_t window_bytes_ = 0;                       // received in the current rate window
  bool window_paused_ = false; // reading paused at some point of the window

  std::string uuid_;
  Endpoint remote_;
  Endpoint local_;
  std::uint16_t listener_port_ = 0; // our socket's: what implicit TLS and submission go by
  std::string hello_verb_;
  std::string hello_host_;
  bool esmtp_ = false;
  bool relaying_ = false;
  nlohmann::json notes_ = nlohmann::json::object();
  Results results_;
  std::shared_ptr<TransactionImpl> txn_;
  unsigned transaction_count_ = 0;
  std::vector<std::string> capabilities_;
  bool early_talker_ = false;

  Phase phase_ = Phase::Connecting;
  bool loop_state_ = false; // connect was denied: every command gets loop_reply_
  Reply loop_reply_;
  bool greeted_ = false;
  bool busy_ = false;       // a hook is running
  bool processing_ = false; // inside processInput(): replies are corked
  bool peer_gone_ = false;
  bool shutting_down_ = false;
  bool disconnect_hook_done_ = false;
  std::shared_ptr<plugin::HookRunner> hook_;

  std::string in_;                      // unprocessed input
  std::size_t in_pos_ = 0;              // start of unprocessed bytes in in_
  bool line_seen_ = false;              // a command line has been read
  std::size_t after_data_bytes_ = 0;    // bytes pipelined after the final dot, to refuse
  bool awaiting_message_reply_ = false; // the final dot was read, its reply not yet given

  std::unique_ptr<DataReader> data_reader_;
  bool data_store_failed_ = false;

  unsigned errors_ = 0;
  unsigned unrecognized_ = 0;
  unsigned rcpt_accepted_ = 0;
  unsigned msgs_accepted_ = 0;

  // The transaction's relaying before the RCPT in flight: a grant made while it runs is undone
  // once that recipient is decided.
  bool relaying_before_rcpt_ = false;
  std::chrono::steady_clock::time_point started_;
  // Callbacks from outside the hook runner (DNS) check this before touching the session.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace upesi::smtp
