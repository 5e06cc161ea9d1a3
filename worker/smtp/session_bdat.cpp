// Session: BDAT (RFC 3030 CHUNKING). A chunk is exactly the octets its command announced and is
// always read to its end, refused or not, so the client's stream stays in step. The content is
// raw (no dot-stuffing); it is stuffed on the way into the same DataReader DATA uses, so every
// rule about DATA (bare CR/LF, line length, size, spooling) holds for BDAT as well.
#include "common/log/logger.hpp"
#include "worker/smtp/deny_replies.hpp"
#include "worker/smtp/session.hpp"

#include <fmt/format.h>

#include <charconv>
#include <strings.h>

namespace upesi::smtp {
namespace {

struct BdatArgument {
  std::uint64_t size = 0;
  bool last = false;
};

std::optional<BdatArgument> parseBdatArgument(std::string_view argument) {
  BdatArgument out;
  auto space = argument.find(' ');
  std::string_view size = argument.substr(0, space);
  if (size.empty() || size.size() > 19) {
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), out.size);
  if (ec != std::errc() || end != size.data() + size.size()) {
    return std::nullopt;
  }
  if (space != std::string_view::npos) {
    std::string_view rest = argument.substr(space + 1);
    if (rest.size() != 4 || strncasecmp(rest.data(), "LAST", 4) != 0) {
      return std::nullopt;
    }
    out.last = true;
  }
  return out;
}

} // namespace

void Session::cmdBdat(std::string_view argument) {
  auto parsed = parseBdatArgument(argument);
  if (!parsed) {
    // Without a size the chunk cannot be skipped: the stream is lost.
    refuse(501, "5.5.4", {"Syntax error in BDAT parameters (BDAT size [LAST])"});
    startClose();
    return;
  }
  bdat_remaining_ = parsed->size;
  bdat_chunk_size_ = parsed->size;
  bdat_last_ = parsed->last;
  bdat_refusal_.reset();
  if (!txn_) {
    bdat_refusal_ = Reply{503, "5.5.1", {"MAIL required first"}};
  } else if (txn_->rcptTo().empty()) {
    bdat_refusal_ = Reply{503, "5.5.1", {"RCPT required first"}};
  } else if (bdat_failed_) {
    bdat_refusal_ = Reply{503, "5.5.1", {"An earlier chunk failed: RSET and start again"}};
  }
  if (bdat_refusal_ || bdat_started_) {
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
      bdat_refusal_ = Reply{soft ? codes.soft_code : codes.deny_code,
                            std::string(soft ? codes.soft_enhanced : codes.deny_enhanced),
                            result.message.empty() ? std::vector<std::string>{"Message denied"}
                                                   : result.message};
      bdat_failed_ = true;
      break;
    }
    case Code::DenyDisconnect:
    case Code::DenySoftDisconnect:
    case Code::Disconnect:
      replyToDeny(result, Hook::Data, "Message denied");
      return;
    default:
      bdat_started_ = true;
      bdat_at_line_start_ = true;
      data_reader_ = makeDataReader();
      break;
    }
    startBdatChunk();
  });
}

void Session::startBdatChunk() {
  bdat_reading_ = true;
  armIdleTimer();
  if (bdat_remaining_ == 0) {
    finishBdatChunk();
  }
}

void Session::handleBdatBytes() {
  std::string_view pending(in_.data() + in_pos_, in_.size() - in_pos_);
  auto take = static_cast<std::size_t>(std::min<std::uint64_t>(pending.size(), bdat_remaining_));
  if (!bdat_refusal_ && data_reader_) {
    feedBdatContent(pending.substr(0, take));
  }
  in_pos_ += take;
  bdat_remaining_ -= take;
  if (bdat_remaining_ == 0) {
    finishBdatChunk();
  }
}

void Session::feedBdatContent(std::string_view raw) {
  // Dot-stuff: a line starting with "." gets another, which the reader takes off again.
  while (!raw.empty() && data_reader_->state() == DataState::Reading) {
    if (bdat_at_line_start_ && raw.front() == '.') {
      data_reader_->feed(".");
    }
    auto lf = raw.find('\n');
    std::size_t run = lf == std::string_view::npos ? raw.size() : lf + 1;
    data_reader_->feed(raw.substr(0, run));
    bdat_at_line_start_ = lf != std::string_view::npos;
    raw.remove_prefix(run);
  }
}

void Session::finishBdatChunk() {
  bdat_reading_ = false;
  armIdleTimer();
  if (bdat_refusal_) {
    Reply refusal = std::move(*bdat_refusal_);
    bdat_refusal_.reset();
    refuse(std::move(refusal));
    return;
  }
  if (data_reader_->state() == DataState::BareLineEnding) {
    log::warn({logUuid(), ""}, "bare CR or LF in a BDAT chunk: refusing the message");
    bdat_failed_ = true;
    refuse(451, "4.5.0",
           {"Bare CR or LF in message data: only CRLF line ends are accepted (see RFC 5321 "
            "2.3.8)"});
    return;
  }
  if (!bdat_last_) {
    reply(250, "2.0.0", {fmt::format("{} octets received", bdat_chunk_size_)});
    return;
  }
  // The last chunk: end the message as the final dot of DATA would.
  if (!bdat_at_line_start_) {
    feedBdatContent("\r\n");
  }
  data_reader_->feed(".\r\n");
  if (data_reader_->state() != DataState::Done) {
    bdat_failed_ = true;
    refuse(451, "4.5.0", {"Bare CR or LF in message data: only CRLF line ends are accepted"});
    return;
  }
  finishData();
}

} // namespace upesi::smtp
