// Session: connection start and the SMTP commands, each wrapped in its hooks, with Haraka's
// default replies (plus enhanced status codes).
#include "common/dns/resolver.hpp"
#include "common/log/escape.hpp"
#include "common/log/logger.hpp"
#include "common/smtp/address_parser.hpp"
#include "common/smtp/command_parser.hpp"
#include "common/smtp/envelope_params.hpp"
#include "worker/smtp/deny_replies.hpp"
#include "worker/smtp/session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <strings.h>

namespace upesi::smtp {
namespace {

// The text a plugin gave, else the default.
std::vector<std::string> textOr(const HookResult& result, std::string fallback) {
  if (!result.message.empty()) {
    return result.message;
  }
  return {std::move(fallback)};
}

bool isDisconnecting(Code code) {
  return code == Code::DenyDisconnect || code == Code::DenySoftDisconnect ||
         code == Code::Disconnect;
}

} // namespace

// ---------------------------------------------------------------------------- connection start

void Session::connectInitDone() {
  if (peer_gone_) {
    return;
  }
  runHook(Hook::LookupRdns, {}, [this](HookResult r) { rdnsRespond(std::move(r)); });
}

bool Session::denyConnection(const HookResult& result, const char* default_deny,
                             const char* default_soft) {
  switch (result.code) {
  case Code::Deny:
  case Code::DenyDisconnect:
    loop_reply_ = Reply{554, "5.7.1", textOr(result, default_deny)};
    break;
  case Code::DenySoft:
  case Code::DenySoftDisconnect:
    loop_reply_ = Reply{421, "4.7.0", textOr(result, default_soft)};
    break;
  case Code::Disconnect:
    startClose();
    return true;
  default:
    return false;
  }
  greeted_ = true;
  reply(loop_reply_);
  if (isDisconnecting(result.code)) {
    startClose();
  } else {
    // Haraka's LOOP state: the client is told the same thing until it quits.
    loop_state_ = true;
    phase_ = Phase::Command;
    processInput();
  }
  return true;
}

void Session::rdnsRespond(HookResult result) {
  if (result.code == Code::Ok && !result.message.empty()) {
    remote_.host = result.message.front();
  }
  if (denyConnection(result, "rDNS Lookup Failed", "rDNS Temporary Failure")) {
    return;
  }
  if (result.code == Code::Cont) {
    defaultReverseLookup();
    return;
  }
  runHook(Hook::Connect, {}, [this](HookResult r) { connectRespond(std::move(r)); });
}

void Session::defaultReverseLookup() {
  auto next = [this]() {
    runHook(Hook::Connect, {}, [this](HookResult r) { connectRespond(std::move(r)); });
  };
  // Loopback needs no DNS; elsewhere no plugin answered, so look it up as Haraka's core does.
  if (remote_.is_local || env_.resolver == nullptr) {
    remote_.host = remote_.is_local ? "localhost" : "";
    next();
    return;
  }
  busy_ = true;
  env_.resolver->reverse(remote_.ip, [this, alive = alive_, next](DnsResult result) {
    if (!*alive || peer_gone_ || phase_ != Phase::Connecting) {
      return;
    }
    busy_ = false;
    remote_.host = result.status == DnsStatus::Ok ? result.records.front().value : "";
    next();
  });
}

void Session::connectRespond(HookResult result) {
  if (denyConnection(result, "Your mail is not welcome here", "Come back later")) {
    return;
  }
  greet();
}

void Session::greet() {
  greeted_ = true;
  phase_ = Phase::Command;
  std::vector<std::string> lines;
  if (txn_ == nullptr && notes_.contains("greeting") && notes_["greeting"].is_string()) {
    lines.push_back(notes_["greeting"].get<std::string>());
  } else if (!env_.texts.greeting.empty()) {
    // As Haraka: the server's name first on the first line (RFC 5321 4.2), then the text.
    lines = env_.texts.greeting;
    lines.front() = fmt::format("{} ESMTP {} ({})", env_.me, lines.front(), uuid_.substr(0, 6));
  } else {
    lines.push_back(fmt::format("{} ESMTP Upesi ready ({})", env_.me, uuid_.substr(0, 6)));
  }
  reply(220, "", std::move(lines));
  processInput();
}

// ---------------------------------------------------------------------------- dispatch

namespace {

// The commands the session knows: the verb, whether it is offered on this session now (a
// command not offered is an unrecognized one, as Haraka has it), and what runs it.
struct CommandRoute {
  std::string_view verb;
  bool (*offered)(const Session& session);
  void (*run)(Session& session, const std::string& verb, std::string_view argument);
};

} // namespace

void Session::dispatch(const std::string& verb, std::string_view argument) {
  using S = Session;
  static constexpr auto Always = [](const S&) { return true; };
  static const CommandRoute Routes[] = {
      {"EHLO", Always, [](S& s, const std::string& v, std::string_view a) { s.cmdHelo(v, a); }},
      {"HELO", Always, [](S& s, const std::string& v, std::string_view a) { s.cmdHelo(v, a); }},
      {"MAIL", Always, [](S& s, const std::string&, std::string_view a) { s.cmdMail(a); }},
      {"RCPT", Always, [](S& s, const std::string&, std::string_view a) { s.cmdRcpt(a); }},
      {"DATA", Always, [](S& s, const std::string&, std::string_view a) { s.cmdData(a); }},
      {"BDAT", [](const S& s) { return s.esmtp_; },
       [](S& s, const std::string&, std::string_view a) { s.cmdBdat(a); }},
      {"RSET", Always, [](S& s, const std::string&, std::string_view a) { s.cmdRset(a); }},
      {"QUIT", Always, [](S& s, const std::string&, std::string_view) { s.cmdQuit({}); }},
      {"NOOP", Always, [](S& s, const std::string&, std::string_view) { s.cmdNoop({}); }},
      {"VRFY", Always, [](S& s, const std::string& v, std::string_view a) { s.cmdVrfyLine(v, a); }},
      {"HELP", Always, [](S& s, const std::string&, std::string_view) { s.cmdHelp(); }},
      {"STARTTLS", [](const S& s) { return s.starttlsOffered(); },
       [](S& s, const std::string&, std::string_view a) { s.cmdStartTls(a); }},
      {"AUTH", [](const S& s) { return !s.authMechanisms().empty(); },
       [](S& s, const std::string&, std::string_view a) { s.cmdAuth(a); }},
      {"PROXY", Always, [](S& s, const std::string&, std::string_view) { s.cmdProxy(); }},
  };
  for (const auto& route : Routes) {
    if (route.verb == verb && route.offered(*this)) {
      route.run(*this, verb, argument);
      return;
    }
  }
  cmdUnrecognized(verb, std::string(argument));
}

void Session::cmdVrfyLine(const std::string& verb, std::string_view argument) {
  // The vrfy hook is given what the client asked about, as unrecognized_command is.
  cmdVrfy(HookArguments::command(verb, std::string(argument)));
}

void Session::handleLine(std::string_view line) {
  if (log::Logger::instance().enabled(log::Level::Protocol)) {
    // AUTH carries credentials: only its mechanism is logged.
    bool auth = line.size() >= 5 && strncasecmp(line.data(), "AUTH ", 5) == 0;
    log::protocol({logUuid(), ""}, "C: {}",
                  auth ? log::escaped(line.substr(0, line.find(' ', 5))) + " ***"
                       : log::escaped(line));
  }
  if (shutting_down_) {
    reply(421, "4.3.2", {fmt::format("{} Service shutting down, closing connection", env_.me)});
    startClose();
    return;
  }
  CommandLine command = splitCommandLine(line, esmtp_);
  if (loop_state_) {
    if (command.verb == "QUIT" && command.defect == LineDefect::None) {
      cmdQuit({});
      return;
    }
    refuse(loop_reply_);
    return;
  }
  switch (command.defect) {
  case LineDefect::None:
    break;
  case LineDefect::Empty:
    refuse(500, "5.5.2", {"Syntax error: empty command"});
    return;
  case LineDefect::Nul:
  case LineDefect::BadVerb:
    refuse(500, "5.5.2", {std::string(command.defectMessage())});
    return;
  case LineDefect::EightBit:
    refuse(501, "5.5.2", {std::string(command.defectMessage())});
    return;
  }
  dispatch(command.verb, command.argument);
}

namespace {

// The class of the reply replyToDeny gives for `code`: 500 (5xx), 400 (4xx), or 0 when it
// gives none (DISCONNECT).
int denyClass(Code code) {
  switch (code) {
  case Code::Deny:
  case Code::DenyDisconnect:
    return 500;
  case Code::DenySoft:
  case Code::DenySoftDisconnect:
    return 400;
  default:
    return 0;
  }
}

} // namespace

bool Session::recipientDenied(const HookResult& result, Hook hook, std::string default_text) {
  if (!replyToDeny(result, hook, std::move(default_text))) {
    return false;
  }
  if (const int code = denyClass(result.code); code != 0) {
    env_.metrics.recipientRejected(code, result.plugin);
  }
  return true;
}

bool Session::messageDenied(const HookResult& result, Hook hook, std::string default_text) {
  if (!replyToDeny(result, hook, std::move(default_text))) {
    return false;
  }
  if (const int code = denyClass(result.code); code != 0) {
    env_.metrics.messageRejected(code, result.plugin);
  }
  return true;
}

void Session::refuseRecipient(Reply r, std::string_view plugin) {
  env_.metrics.recipientRejected(r.code, plugin);
  refuse(std::move(r));
}

void Session::refuseMessage(Reply r, std::string_view plugin) {
  env_.metrics.messageRejected(r.code, plugin);
  refuse(std::move(r));
}

bool Session::replyToDeny(const HookResult& result, Hook hook, std::string default_text) {
  const auto codes = denyRepliesFor(hook);
  assert(codes.has_value());
  switch (result.code) {
  case Code::Deny:
    refuse(pluginRefusal(codes->deny_code, codes->deny_enhanced,
                         textOr(result, std::move(default_text))));
    return true;
  case Code::DenySoft:
    refuse(pluginRefusal(codes->soft_code, codes->soft_enhanced,
                         textOr(result, std::move(default_text))));
    return true;
  case Code::DenyDisconnect:
    reply(pluginRefusal(codes->deny_code, codes->deny_enhanced,
                        textOr(result, std::move(default_text))));
    startClose();
    return true;
  case Code::DenySoftDisconnect:
    reply(421, codes->soft_enhanced, textOr(result, std::move(default_text)));
    startClose();
    return true;
  case Code::Disconnect:
    startClose();
    return true;
  default:
    return false;
  }
}

// ---------------------------------------------------------------------------- HELO / EHLO

void Session::cmdHelo(std::string_view verb, std::string_view argument) {
  std::string host(argument);
  while (!host.empty() && host.back() == ' ') {
    host.pop_back();
  }
  if (host.empty()) {
    refuse(501, "5.5.4", {fmt::format("{} requires domain/address - see RFC-5321 4.1.1.1", verb)});
    return;
  }
  if (std::any_of(host.begin(), host.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7F || u >= 0x80;
      })) {
    refuse(501, "5.5.4", {fmt::format("{} syntax error - see RFC-5321 4.1.1.1", verb)});
    return;
  }
  bool ehlo = verb == "EHLO";
  resetTransaction([this, ehlo, host = std::move(host)]() mutable {
    hello_verb_ = ehlo ? "EHLO" : "HELO";
    hello_host_ = host;
    runHook(ehlo ? Hook::Ehlo : Hook::Helo, HookArguments::hello(host),
            [this, ehlo](HookResult result) {
              if (replyToDeny(result, ehlo ? Hook::Ehlo : Hook::Helo, "HELO denied")) {
                // A refused greeting leaves the client where it was (Haraka #3269).
                hello_verb_.clear();
                hello_host_.clear();
                return;
              }
              esmtp_ = ehlo;
              std::string greeting = fmt::format("{} Hello {}[{}], {}", env_.me,
                                                 remote_.host.empty() ? "" : remote_.host + " ",
                                                 remote_.ip, env_.texts.helo_message);
              if (!ehlo) {
                reply(250, "", {greeting});
                return;
              }
              capabilities_ = {"PIPELINING", "8BITMIME",
                               "SMTPUTF8",   "ENHANCEDSTATUSCODES",
                               "CHUNKING",   fmt::format("SIZE {}", limits_.max_message_size)};
              capabilities_.push_back("DSN");
              if (tls()) {
                capabilities_.push_back("REQUIRETLS"); // RFC 8689 2: only where TLS is in use
              }
              if (!limits_.mt_priority.empty()) {
                capabilities_.push_back(fmt::format("MT-PRIORITY {}", limits_.mt_priority));
              }
              runHook(Hook::Capabilities, {}, [this, greeting](HookResult) {
                filterAuthCapability();
                std::vector<std::string> lines{greeting};
                lines.insert(lines.end(), capabilities_.begin(), capabilities_.end());
                reply(250, "", std::move(lines));
              });
            });
  });
}

// ---------------------------------------------------------------------------- MAIL

void Session::cmdMail(std::string_view argument) {
  if (hello_verb_.empty()) {
    refuse(503, "5.5.1", {"Use EHLO/HELO before MAIL"});
    return;
  }
  if (txn_) {
    refuse(503, "5.5.1", {"Nested MAIL command"});
    return;
  }
  if (!relaying() && std::find(env_.submission_ports.begin(), env_.submission_ports.end(),
                               listener_port_) != env_.submission_ports.end()) {
    refuse(530, "5.7.0", {"Authentication required"});
    return;
  }
  auto parts = splitPathArgument(argument, "FROM:", PathOptions::lenient());
  if (!parts) {
    refuse(501, "5.5.4", {fmt::format("Command parsing failed: {}", parts.error())});
    return;
  }
  auto address = parsePath(parts->path, PathKind::Reverse, PathOptions::lenient());
  if (!address) {
    refuse(501, "5.1.7",
           {fmt::format("Invalid MAIL FROM address {}: {}", log::escaped(parts->path),
                        address.error())});
    return;
  }
  auto params = parseEsmtpParams(parts->params);
  if (!params) {
    refuse(501, "5.5.4", {fmt::format("Invalid MAIL FROM parameters: {}", params.error())});
    return;
  }
  if (!params->empty() && !esmtp_) {
    refuse(555, "5.5.4", {"Invalid command parameters (use EHLO)"});
    return;
  }
  bool smtputf8 = false;
  MailOptions options;
  std::vector<std::string> unknown; // offered to the mail hook's plugins
  for (const auto& [keyword, value] : *params) {
    if (keyword == "SIZE") {
      auto size = parseSizeValue(value);
      if (!size) {
        refuse(501, "5.5.4", {size.error()});
        return;
      }
      if (*size > limits_.max_message_size) {
        refuse(552, "5.3.4", {"Message size exceeds fixed maximum message size"});
        return;
      }
    } else if (keyword == "BODY") {
      if (auto body = parseBodyValue(value); !body || *body == BodyType::BinaryMime) {
        refuse(501, "5.5.4", {fmt::format("Unsupported BODY type {}", log::escaped(value))});
        return;
      }
    } else if (keyword == "SMTPUTF8") {
      smtputf8 = true;
    } else if (keyword == "RET") {
      auto ret = parseDsnRet(value);
      if (!ret) {
        refuse(501, "5.5.4", {ret.error()});
        return;
      }
      options.dsn_ret = *ret;
    } else if (keyword == "ENVID") {
      auto envid = parseDsnEnvid(value);
      if (!envid) {
        refuse(501, "5.5.4", {envid.error()});
        return;
      }
      options.dsn_envid = std::move(*envid);
    } else if (keyword == "REQUIRETLS") {
      if (!tls()) {
        refuse(530, "5.7.10", {"REQUIRETLS needs a TLS session (use STARTTLS)"});
        return;
      }
      if (!value.empty()) {
        refuse(501, "5.5.4", {"REQUIRETLS takes no value"});
        return;
      }
      options.requiretls = true;
    } else if (keyword == "MT-PRIORITY" && !limits_.mt_priority.empty()) {
      auto priority = parseMtPriority(value);
      if (!priority) {
        refuse(501, "5.5.4", {priority.error()});
        return;
      }
      options.has_mt_priority = true;
      options.mt_priority = *priority;
    } else if (keyword != "AUTH") {
      unknown.push_back(keyword);
    }
  }
  if (address->is_utf8 && !smtputf8) {
    refuse(553, "5.6.7", {"Non-ASCII sender address requires SMTPUTF8"});
    return;
  }
  ++transaction_count_;
  MessageStreamOptions stream_options;
  stream_options.spool_after = limits_.spool_after;
  stream_options.spool_dir = env_.spool_dir;
  txn_ = std::make_shared<TransactionImpl>(fmt::format("{}.{}", uuid_, transaction_count_),
                                           *address, *params, std::move(stream_options));
  txn_->relaying = relaying_;
  txn_->setMailOptions(std::move(options));
  if (smtputf8) {
    txn_->notes()["smtputf8"] = true;
  }
  auto arguments = HookArguments::envelope(*address, *params, EsmtpClaims(std::move(unknown)));
  runHook(Hook::Mail, arguments, [this, arguments](HookResult result) {
    std::string formatted = arguments.address().format();
    if (replyToDeny(result, Hook::Mail, fmt::format("sender {} denied", formatted))) {
      txn_.reset(); // a refused sender opens no transaction
      return;
    }
    if (refuseUnclaimedParameters(arguments.claims())) {
      txn_.reset();
      return;
    }
    env_.metrics.transactionBegun();
    reply(250, "2.1.0", textOr(result, fmt::format("sender {} OK", formatted)));
  });
}

// ---------------------------------------------------------------------------- RCPT

void Session::cmdRcpt(std::string_view argument) {
  if (!txn_) {
    refuseRecipient({503, "5.5.1", {"Use MAIL before RCPT"}});
    return;
  }
  auto parts = splitPathArgument(argument, "TO:", PathOptions::lenient());
  if (!parts) {
    refuseRecipient({501, "5.5.4", {fmt::format("Command parsing failed: {}", parts.error())}});
    return;
  }
  auto address = parsePath(parts->path, PathKind::Forward, PathOptions::lenient());
  if (!address) {
    refuseRecipient({501,
                     "5.1.3",
                     {fmt::format("Invalid RCPT TO address {}: {}", log::escaped(parts->path),
                                  address.error())}});
    return;
  }
  auto params = parseEsmtpParams(parts->params);
  if (!params) {
    refuseRecipient(
        {501, "5.5.4", {fmt::format("Invalid RCPT TO parameters: {}", params.error())}});
    return;
  }
  if (!params->empty() && !esmtp_) {
    refuseRecipient({555, "5.5.4", {"Invalid command parameters (use EHLO)"}});
    return;
  }
  if (address->is_utf8 && !txn_->notes().value("smtputf8", false)) {
    refuseRecipient({553, "5.6.7", {"Non-ASCII recipient address requires SMTPUTF8"}});
    return;
  }
  if (txn_->rcptTo().size() >= limits_.max_recipients) {
    refuseRecipient({452, "4.5.3", {"Too many recipients"}});
    return;
  }
  // NOTIFY and ORCPT are the core's (DSN); the others are the plugins' to claim.
  RcptOptions options;
  std::vector<std::string> unknown;
  for (const auto& [keyword, value] : *params) {
    if (keyword == "NOTIFY") {
      auto notify = parseDsnNotify(value);
      if (!notify) {
        refuseRecipient({501, "5.5.4", {notify.error()}});
        return;
      }
      options.notify = *notify;
    } else if (keyword == "ORCPT") {
      if (auto orcpt = parseDsnOrcpt(value, options); !orcpt) {
        refuseRecipient({501, "5.5.4", {orcpt.error()}});
        return;
      }
    } else {
      unknown.push_back(keyword);
    }
  }
  // As in Haraka the recipient is on the list while rcpt runs, and taken off if refused.
  txn_->rcptTo().push_back(*address);
  const std::size_t index = txn_->rcptTo().size() - 1;
  txn_->setRcptOptions(*address, std::move(options));
  relaying_before_rcpt_ = txn_->relaying;
  auto arguments = HookArguments::recipient(*address, *params, EsmtpClaims(std::move(unknown)));
  runHook(Hook::Rcpt, arguments, [this, arguments, index, sent = *address](HookResult result) {
    rcptRespond(std::move(result), arguments, index, sent);
  });
}

void Session::rcptRespond(HookResult result, const HookArguments& arguments, std::size_t index,
                          const Address& sent) {
  if (!txn_) {
    return;
  }
  const Address& address = arguments.address(); // as a plugin may have rewritten it
  std::string formatted = address.format();
  auto dropRecipient = [this, &address, &sent, index]() {
    auto& list = txn_->rcptTo();
    // By place first: a plugin may have rewritten the entry while rcpt ran (an alias).
    if (index < list.size()) {
      list.erase(list.begin() + static_cast<std::ptrdiff_t>(index));
      return;
    }
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
      if (*it == address || *it == sent) {
        list.erase(std::next(it).base());
        break;
      }
    }
  };
  if (result.code == Code::Cont && !relaying()) {
    txn_->relaying = relaying_before_rcpt_;
    dropRecipient();
    refuseRecipient({550, "5.7.1", {fmt::format("I cannot deliver mail for {}", formatted)}});
    return;
  }
  if (recipientDenied(result, Hook::Rcpt, fmt::format("recipient {} denied", formatted))) {
    if (txn_) {
      txn_->relaying = relaying_before_rcpt_;
      dropRecipient();
    }
    return;
  }
  if (refuseUnclaimedParameters(arguments.claims())) {
    env_.metrics.recipientRejected(555, {});
    txn_->relaying = relaying_before_rcpt_;
    dropRecipient();
    return;
  }
  if (!(address == sent)) {
    // Rewritten through HookParams::recipient: the list and the DSN options follow.
    auto& list = txn_->rcptTo();
    if (index < list.size() && list[index] == sent) {
      list[index] = address;
    }
    txn_->setRcptOptions(address, txn_->rcptOptions(sent));
  }
  // rcpt's own OK text, if any, is the reply once rcpt_ok agrees.
  std::string ok_text = result.message.empty() ? std::string() : result.message.front();
  auto ok_arguments = HookArguments().withAddress(address);
  runHook(Hook::RcptOk, ok_arguments,
          [this, ok_arguments, ok_text = std::move(ok_text)](HookResult ok) {
            rcptOkRespond(std::move(ok), ok_arguments.address(), ok_text);
          });
}

void Session::rcptOkRespond(HookResult result, const Address& address, const std::string& ok_text) {
  if (!txn_) {
    return;
  }
  // Relaying turned on while this RCPT ran vouches for this recipient only; otherwise the next
  // RCPT, to any domain, would be relayed too (an open relay).
  const bool relayed = txn_->relaying && !relaying_before_rcpt_;
  txn_->relaying = relaying_before_rcpt_;
  std::string formatted = address.format();
  if (recipientDenied(result, Hook::RcptOk, fmt::format("recipient {} denied", formatted))) {
    if (txn_) {
      auto& list = txn_->rcptTo();
      if (!list.empty()) {
        list.pop_back();
      }
    }
    return;
  }
  txn_->relays_recipients = txn_->relays_recipients || relayed;
  ++rcpt_accepted_;
  env_.metrics.recipientAccepted();
  reply(250, "2.1.5", {ok_text.empty() ? fmt::format("recipient {} OK", formatted) : ok_text});
}

bool Session::refuseUnclaimedParameters(const EsmtpClaims& claims) {
  const auto& unclaimed = claims.unclaimed();
  if (unclaimed.empty()) {
    return false;
  }
  refuse(555, "5.5.4", {fmt::format("Unsupported parameter {}", log::escaped(unclaimed.front()))});
  return true;
}

// ---------------------------------------------------------------------------- RSET, QUIT...

void Session::resetTransaction(std::function<void()> then) {
  if (!txn_) {
    then();
    return;
  }
  runHook(Hook::ResetTransaction, {}, [this, then = std::move(then)](HookResult) {
    txn_.reset();
    bdat_.endTransaction();
    data_reader_.reset();
    then();
  });
}

void Session::cmdRset(std::string_view argument) {
  if (!argument.empty()) {
    refuse(501, "5.5.4", {"Syntax error: RSET takes no arguments"});
    return;
  }
  rset({});
}

void Session::rset(const HookArguments& arguments) {
  resetTransaction([this, arguments]() {
    runHook(Hook::Rset, arguments, [this](HookResult) { reply(250, "2.0.0", {"OK"}); });
  });
}

void Session::cmdQuit(const HookArguments& arguments) {
  // RFC 5321 4.1.1.10: answer QUIT whatever follows it
  runHook(Hook::Quit, arguments, [this](HookResult) {
    reply(221, "2.0.0", {fmt::format("{} {}", env_.me, env_.texts.close_message)});
    startClose();
  });
}

void Session::cmdNoop(const HookArguments& arguments) {
  runHook(Hook::Noop, arguments, [this](HookResult result) {
    if (replyToDeny(result, Hook::Noop, "NOOP denied")) {
      return;
    }
    reply(250, "2.0.0", {"OK"});
  });
}

void Session::cmdVrfy(const HookArguments& arguments) {
  runHook(Hook::Vrfy, arguments, [this](HookResult result) {
    if (result.code == Code::Ok) {
      reply(250, "2.1.5", textOr(result, "User OK"));
      return;
    }
    if (replyToDeny(result, Hook::Vrfy, "User not found")) {
      return;
    }
    reply(252, "2.1.5", {"Just try sending a mail and we'll see how it turns out ..."});
  });
}

void Session::cmdHelp() {
  reply(214, "2.0.0", {"Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT"});
}

void Session::cmdUnrecognized(std::string verb, std::string argument) {
  auto arguments = HookArguments::command(std::move(verb), std::move(argument));
  runHook(Hook::UnrecognizedCommand, arguments, [this, arguments](HookResult result) {
    if (result.code == Code::Ok) {
      // Haraka's plugin has answered through connection.respond by now; ours cannot, so a bare
      // OK still gets a reply: a client waiting for one would otherwise hang.
      reply(250, result.message.empty() ? "2.0.0" : "", textOr(result, "OK"));
      return;
    }
    if (result.code == Code::HookNext && !result.message.empty()) {
      runNamedHook(result.message.front(), arguments);
      return;
    }
    if (replyToDeny(result, Hook::UnrecognizedCommand, "Unrecognized command")) {
      return;
    }
    reply(500, "5.5.1", {"Unrecognized command"});
    ++unrecognized_;
    if (unrecognized_ >= limits_.max_unrecognized_commands) {
      reply(421, "4.7.0", {fmt::format("{} Error: too many unrecognized commands", env_.me)});
      startClose();
      return;
    }
    countError();
  });
}

void Session::connectAgain(const HookArguments& arguments) {
  runHook(Hook::Connect, arguments, [this](HookResult result) {
    if (!denyConnection(result, "Your mail is not welcome here", "Come back later")) {
      greet();
    }
  });
}

void Session::runNamedHook(const std::string& hook_name, const HookArguments& arguments) {
  // HOOK_NEXT (Haraka's docs: next(HOOK_NEXT, 'rcpt_ok')): the named hook runs instead of the
  // unrecognized command's reply, with the same arguments (verb and argument), plus what that
  // hook always receives; its answer is given as that hook's own command gives it.
  const auto hook = hookFromString(hook_name);
  switch (hook.value_or(Hook::InitMaster)) {
  case Hook::LookupRdns:
    // As at connection start, connect and the greeting follow (xclient's way to restart).
    runHook(Hook::LookupRdns, arguments, [this, arguments](HookResult result) {
      if (result.code == Code::Ok && !result.message.empty()) {
        remote_.host = result.message.front();
      }
      if (!denyConnection(result, "rDNS Lookup Failed", "rDNS Temporary Failure")) {
        connectAgain(arguments);
      }
    });
    return;
  case Hook::Connect:
    connectAgain(arguments);
    return;
  case Hook::RcptOk:
    // Haraka's rcpt_ok_respond answers for the transaction's last recipient.
    if (!txn_ || txn_->rcptTo().empty()) {
      refuse(503, "5.5.1", {"Use RCPT before rcpt_ok"});
      return;
    }
    {
      relaying_before_rcpt_ = txn_->relaying;
      auto ok_arguments = arguments.withAddress(txn_->rcptTo().back());
      runHook(Hook::RcptOk, ok_arguments, [this, ok_arguments](HookResult result) {
        rcptOkRespond(std::move(result), ok_arguments.address(), {});
      });
      return;
    }
  case Hook::Vrfy:
    cmdVrfy(arguments);
    return;
  case Hook::Noop:
    cmdNoop(arguments);
    return;
  case Hook::Rset:
    rset(arguments);
    return;
  case Hook::Quit:
    cmdQuit(arguments);
    return;
  default:
    break;
  }
  // The others run at fixed points of a transaction (data, queue...) or outside a session.
  log::error({logUuid(), ""},
             "HOOK_NEXT to \"{}\": only lookup_rdns, connect, rcpt_ok, vrfy, noop, rset and quit "
             "can be run from unrecognized_command",
             log::escaped(hook_name));
  reply(451, "4.3.0", {"Internal error"});
}

} // namespace upesi::smtp
