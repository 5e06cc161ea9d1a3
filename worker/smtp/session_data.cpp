// Session: DATA, the end of a message, and handing it to the queue hooks.
#include "common/log/escape.hpp"
#include "common/log/logger.hpp"
#include "common/util/text.hpp"
#include "worker/outbound/outbound_engine.hpp"
#include "worker/smtp/authentication_results.hpp"
#include "worker/smtp/deny_replies.hpp"
#include "worker/smtp/session.hpp"

#include <fmt/format.h>

#include <ctime>

#include "build_info.hpp"

namespace upesi::smtp {
namespace {

// RFC 5322 date-time in UTC: "Mon, 23 Nov 2026 09:25:28 +0000".
} // namespace

void Session::cmdData(std::string_view argument) {
  if (!argument.empty()) {
    refuse(501, "5.5.4", {"Syntax error: DATA takes no arguments"});
    return;
  }
  if (!txn_) {
    refuse(503, "5.5.1", {"MAIL required first"});
    return;
  }
  if (txn_->rcptTo().empty()) {
    refuse(503, "5.5.1", {"RCPT required first"});
    return;
  }
  if (bdat_.started()) {
    refuse(503, "5.5.1", {"DATA not allowed after BDAT in the same transaction"});
    return;
  }
  runHook(Hook::Data, {}, [this](HookResult result) {
    if (messageDenied(result, Hook::Data, "Message denied")) {
      return;
    }
    data_reader_ = makeDataReader();
    phase_ = Phase::Data;
    armIdleTimer();
    reply(354, "", {"go ahead, make my day"});
  });
}

std::unique_ptr<DataReader> Session::makeDataReader() {
  DataReaderOptions options;
  options.max_line_length = limits_.max_data_line_length;
  options.long_lines = limits_.fold_long_data_lines ? LongLinePolicy::Fold : LongLinePolicy::Reject;
  options.bare_line_endings = limits_.normalise_bare_line_endings ? BareLineEndingPolicy::Normalise
                                                                  : BareLineEndingPolicy::Reject;
  options.max_bytes = limits_.max_message_size;
  options.reject_nul = !limits_.allow_nul_in_data;
  data_store_failed_ = false;
  if (txn_) {
    txn_->startBody(mail::MimeLimits{});
  }
  return std::make_unique<DataReader>(options, [this](std::string_view bytes) {
    if (data_store_failed_ || !txn_) {
      return;
    }
    if (auto r = txn_->message().append(bytes); !r) {
      log::error({logUuid(), ""}, "storing the message failed: {}", r.error());
      data_store_failed_ = true;
      return;
    }
    txn_->feedBody(bytes);
  });
}

void Session::handleDataBytes() {
  std::string_view pending(in_.data() + in_pos_, in_.size() - in_pos_);
  if (pending.empty()) {
    return;
  }
  auto fed = data_reader_->feed(pending);
  in_pos_ += fed.consumed;
  switch (fed.state) {
  case DataState::Reading:
    return;
  case DataState::BareLineEnding:
    phase_ = Phase::Command;
    log::warn({logUuid(), ""}, "bare CR or LF in DATA: refusing the message and disconnecting");
    env_.metrics.messageRejected(451, {});
    reply(451, "4.5.0",
          {"Bare CR or LF in message data: only CRLF line ends are accepted (see RFC 5321 "
           "2.3.8)"});
    startClose();
    return;
  case DataState::Done:
    phase_ = Phase::Command;
    armIdleTimer();
    after_data_bytes_ = in_.size() - in_pos_;
    awaiting_message_reply_ = true;
    finishData();
    return;
  }
}

void Session::finishData() {
  txn_->setDataBytes(data_reader_->messageBytes());
  auto outcome = data_reader_->outcome();
  if (data_reader_->lineLengthExceeded()) {
    txn_->notes()["data_line_length_exceeded"] = true;
  }
  if (outcome == DataOutcome::SizeExceeded) {
    runHook(Hook::MaxDataExceeded, {}, [this](HookResult result) {
      if (result.code == Code::DenySoft) {
        env_.metrics.messageRejected(452, result.plugin);
        reply(452, "4.3.4", {"Message too big for now"});
      } else {
        env_.metrics.messageRejected(552, {});
        reply(552, "5.3.4", {"Message size exceeds fixed maximum message size"});
      }
      countError();
      messageDone();
    });
    return;
  }
  if (outcome == DataOutcome::NulCharacter) {
    log::info({logUuid(), ""}, "NUL byte in the message: refused (smtp.ini allow_nul_in_data)");
    refuseMessage({554, "5.6.0", {"NUL character in message not allowed"}});
    messageDone();
    return;
  }
  if (outcome == DataOutcome::LineTooLong) {
    refuseMessage({550,
                   "5.5.2",
                   {fmt::format("Line too long: the limit is {} bytes (RFC 5321 4.5.3.1.6)",
                                limits_.max_data_line_length)}});
    messageDone();
    return;
  }
  if (data_store_failed_) {
    refuseMessage({451, "4.3.0", {"Error storing the message, try again later"}});
    messageDone();
    return;
  }
  if (auto finished = txn_->message().finish(); !finished) {
    log::error({logUuid(), ""}, "storing the message failed: {}", finished.error());
    refuseMessage({451, "4.3.0", {"Error storing the message, try again later"}});
    messageDone();
    return;
  }
  if (txn_->message().header().count("Received") > limits_.max_received_headers) {
    refuseMessage({554, "5.4.6", {"Too many received headers - possible mail loop"}});
    messageDone();
    return;
  }
  if (auto forged = removeForgedAuthResults(txn_->message().header(), env_.me); forged > 0) {
    log::info({logUuid(), ""}, "removed {} Authentication-Results field(s) claiming to be {}'s",
              forged, env_.me);
  }
  txn_->finishBody();
  txn_->addLeadingHeader("Received", receivedHeader());
  runHook(Hook::DataPost, {}, [this](HookResult result) {
    if (messageDenied(result, Hook::DataPost, "Message denied")) {
      messageDone();
      return;
    }
    if (auto value = authResultsValue(results_, txn_->results(), env_.me)) {
      txn_->addLeadingHeader("Authentication-Results", *value);
    }
    queueMessage();
  });
}

namespace {

// The HELO name as it may stand in our Received header: a client's name is free text (EHLO
// "x (forged) by y" would write comments and fields of its choosing), so every byte that cannot
// be in a domain or an address literal becomes '_'.
std::string receivedHeloName(std::string_view helo) {
  constexpr std::size_t MaxLength = 255;
  std::string name(helo.substr(0, MaxLength));
  for (char& c : name) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == ':' ||
                         c == '[' || c == ']';
    if (!allowed) {
      c = '_';
    }
  }
  return name;
}

} // namespace

std::string Session::receivedHeader() const {
  // RFC 3848: ESMTPS when over TLS, ESMTPA when authenticated, ESMTPSA for both.
  std::string protocol = esmtp_ ? "ESMTP" : "SMTP";
  if (esmtp_ && tls()) {
    protocol += 'S';
  }
  if (esmtp_ && !authUser().empty()) {
    protocol += 'A';
  }
  std::string extra;
  if (tls()) {
    extra += fmt::format("\r\n\ttls {}", tls_info_->cipher);
  }
  if (!authUser().empty()) {
    extra += " (authenticated bits=0)";
  }
  return fmt::format("from {} ({}[{}])\r\n\tby {} (Upesi/{}) with {} id {}\r\n\tenvelope-from "
                     "{}{};\r\n\t{}",
                     receivedHeloName(hello_host_), remote_.host.empty() ? "" : remote_.host + " ",
                     remote_.ip, env_.me, UPESI_VERSION, protocol, txn_->uuid(),
                     txn_->mailFrom().format(), extra, rfc5322Now());
}

void Session::queueMessage() {
  // Recipients relayed one by one make the whole message relayed, as relaying does in Haraka.
  if (txn_->relays_recipients) {
    txn_->relaying = true;
  }
  bool outbound = relaying();
  Hook hook = outbound ? Hook::QueueOutbound : Hook::Queue;
  if (outbound && env_.outbound != nullptr) {
    env_.outbound->addMissingIdentity(*txn_);
  }
  runHook(hook, {}, [this, outbound](HookResult result) {
    if (!outbound || result.code != Code::Cont || env_.outbound == nullptr) {
      queueRespond(std::move(result));
      return;
    }
    // No plugin took it: the built-in outbound queue does, durably, before the 250, after
    // pre_send_trans_email (where DKIM signing plugins work) has seen it with the headers
    // the queue adds (Message-Id, Date, Received), as in Haraka's send_trans_email.
    env_.outbound->prepareHeaders(*txn_);
    runHook(Hook::PreSendTransEmail, {}, [this](HookResult pre) {
      if (isDeny(pre.code)) {
        queueRespond(std::move(pre));
        return;
      }
      enqueueOutbound();
    });
  });
}

void Session::enqueueOutbound() {
  busy_ = true;
  env_.outbound->enqueue(txn_, [this, alive = alive_](Result<std::string> queued) {
    if (!*alive || peer_gone_ || phase_ == Phase::Closing || phase_ == Phase::Closed) {
      return;
    }
    busy_ = false;
    if (queued) {
      queueRespond(HookResult{Code::Ok, {*queued}, "outbound"});
    } else {
      queueRespond(HookResult{Code::DenySoft, {"Queuing failed, try again later"}, "outbound"});
    }
    hookFinished();
  });
}

void Session::queueRespond(HookResult result) {
  if (result.code == Code::Ok) {
    std::vector<std::string> text =
        result.message.empty()
            ? std::vector<std::string>{fmt::format("Message Queued ({})", txn_->uuid())}
            : result.message;
    ++msgs_accepted_;
    env_.metrics.messageAccepted(txn_->dataBytes());
    log::info({logUuid(), result.plugin}, "queued from=\"{}\" rcpts={} bytes={}",
              log::escaped(txn_->mailFrom().format()), txn_->rcptTo().size(), txn_->dataBytes());
    reply(250, "2.0.0", text);
    runHook(Hook::QueueOk, HookArguments::queued(text.front()),
            [this](HookResult) { messageDone(); });
    return;
  }
  if (messageDenied(result, Hook::Queue, "Message denied") /* queue_outbound: the same */) {
    messageDone();
    return;
  }
  refuseMessage(
      {451, "4.3.0", {fmt::format("Queuing declined or disabled, try later ({})", txn_->uuid())}},
      result.plugin);
  messageDone();
}

void Session::messageDone() {
  awaiting_message_reply_ = false;
  if (phase_ == Phase::Closing || phase_ == Phase::Closed) {
    return;
  }
  resetTransaction([] {});
}

} // namespace upesi::smtp
