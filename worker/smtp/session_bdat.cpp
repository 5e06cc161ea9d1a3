// Session: BDAT (RFC 3030 CHUNKING). The chunks' bookkeeping and the dot-stuffing of their raw
// content into the same DataReader DATA uses are BdatChunks'; here the data hook decides on the
// first chunk, and each chunk's end is answered.
#include "common/log/logger.hpp"
#include "worker/smtp/bdat_chunks.hpp"
#include "worker/smtp/deny_replies.hpp"
#include "worker/smtp/session.hpp"

namespace upesi::smtp {

void Session::cmdBdat(std::string_view argument) {
  auto parsed = parseBdatArgument(argument);
  if (!parsed) {
    // Without a size the chunk cannot be skipped: the stream is lost.
    refuse(501, "5.5.4", {"Syntax error in BDAT parameters (BDAT size [LAST])"});
    startClose();
    return;
  }
  std::optional<Reply> refusal;
  if (!txn_) {
    refusal = Reply{503, "5.5.1", {"MAIL required first"}};
  } else if (txn_->rcptTo().empty()) {
    refusal = Reply{503, "5.5.1", {"RCPT required first"}};
  }
  bdat_.announce(*parsed, std::move(refusal));
  if (!bdat_.needsDataHook()) {
    startBdatChunk();
    return;
  }
  // First chunk of the message: the data hook decides as it does at DATA.
  runHook(Hook::Data, {}, [this](HookResult result) {
    switch (result.code) {
    case Code::Deny:
    case Code::DenySoft: {
      const bool soft = result.code == Code::DenySoft;
      const auto codes = *denyRepliesFor(Hook::Data);
      env_.metrics.messageRejected(soft ? codes.soft_code : codes.deny_code, result.plugin);
      bdat_.failMessage(Reply{soft ? codes.soft_code : codes.deny_code,
                              std::string(soft ? codes.soft_enhanced : codes.deny_enhanced),
                              result.message.empty() ? std::vector<std::string>{"Message denied"}
                                                     : result.message});
      break;
    }
    case Code::DenyDisconnect:
    case Code::DenySoftDisconnect:
    case Code::Disconnect:
      messageDenied(result, Hook::Data, "Message denied");
      return;
    default:
      bdat_.startMessage();
      data_reader_ = makeDataReader();
      break;
    }
    startBdatChunk();
  });
}

void Session::startBdatChunk() {
  bdat_.startReading();
  armIdleTimer();
  if (bdat_.chunkComplete()) {
    finishBdatChunk();
  }
}

void Session::handleBdatBytes() {
  std::string_view pending(in_.data() + in_pos_, in_.size() - in_pos_);
  in_pos_ += bdat_.take(pending, data_reader_.get());
  if (bdat_.chunkComplete()) {
    finishBdatChunk();
  }
}

void Session::finishBdatChunk() {
  BdatChunkEnd end = bdat_.finishChunk(data_reader_.get());
  armIdleTimer();
  switch (end.kind) {
  case BdatChunkEnd::Kind::Refused:
    refuse(std::move(end.reply));
    return;
  case BdatChunkEnd::Kind::BareLineEnding:
    log::warn({logUuid(), ""}, "bare CR or LF in a BDAT chunk: refusing the message");
    refuseMessage(std::move(end.reply));
    return;
  case BdatChunkEnd::Kind::Received:
    reply(std::move(end.reply));
    return;
  case BdatChunkEnd::Kind::MessageEnded:
    finishData();
    return;
  }
}

} // namespace upesi::smtp
