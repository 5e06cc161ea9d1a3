// Session: clients that hold a connection without making progress. A client that pipelines
// commands and never reads the replies is not read any further once max_output_buffer bytes
// wait for it, and is dropped after write_timeout (the transport keeps both); one that dribbles a
// command line or a message (slowloris: every byte resets an idle timer) meets a deadline for the
// whole line, one for the whole DATA/BDAT phase, and a minimum data rate.
#include "common/log/logger.hpp"
#include "worker/smtp/session.hpp"

#include <fmt/format.h>

namespace upesi::smtp {

void Session::outputDrained() {
  if (!busy_ && !processing_ && !peer_gone_ &&
      (phase_ == Phase::Command || phase_ == Phase::Data) && in_pos_ < in_.size()) {
    processInput(); // the commands held back while the replies waited
  } else {
    updateReading();
  }
}

bool Session::readingMessage() const {
  return phase_ == Phase::Data || bdat_.messageInProgress();
}

void Session::updateDeadlines() {
  if (phase_ == Phase::Closing || phase_ == Phase::Closed || peer_gone_) {
    line_deadline_.stop();
    data_deadline_.stop();
    data_rate_timer_.stop();
    return;
  }
  if (!transport_->reading() || busy_) {
    window_paused_ = true; // the client is not to blame for what we did not read
  }
  if (readingMessage()) {
    line_deadline_.stop();
    if (!data_deadline_.armed()) {
      data_deadline_.start(static_cast<std::uint64_t>(limits_.max_data_time_s) * 1000, [this]() {
        timeOut(fmt::format("message not received within {} s", limits_.max_data_time_s));
      });
      window_bytes_ = 0;
      window_paused_ = !transport_->reading() || busy_;
      data_rate_timer_.start(static_cast<std::uint64_t>(limits_.min_data_rate_window_s) * 1000,
                             [this]() { checkDataRate(); });
    }
    return;
  }
  data_deadline_.stop();
  data_rate_timer_.stop();
  // A command line begun and not ended, while we read: the client has command_timeout to end it.
  const bool partial_line = in_pos_ < in_.size() && transport_->reading() && !bdat_.reading();
  if (!partial_line) {
    line_deadline_.stop();
  } else if (!line_deadline_.armed()) {
    line_deadline_.start(static_cast<std::uint64_t>(limits_.command_timeout_s) * 1000, [this]() {
      timeOut(fmt::format("command line not completed within {} s", limits_.command_timeout_s));
    });
  }
}

void Session::checkDataRate() {
  if (!readingMessage() || phase_ == Phase::Closing || phase_ == Phase::Closed) {
    return;
  }
  const auto window = static_cast<std::uint64_t>(limits_.min_data_rate_window_s);
  const std::uint64_t wanted = static_cast<std::uint64_t>(limits_.min_data_rate) * window;
  if (!window_paused_ && window_bytes_ < wanted) {
    timeOut(fmt::format("message data arrives at {} bytes/s, below min_data_rate {}",
                        window_bytes_ / window, limits_.min_data_rate));
    return;
  }
  window_bytes_ = 0;
  window_paused_ = !transport_->reading() || busy_;
  data_rate_timer_.start(window * 1000, [this]() { checkDataRate(); });
}

void Session::timeOut(const std::string& why) {
  if (phase_ == Phase::Closing || phase_ == Phase::Closed) {
    return;
  }
  log::info({logUuid(), ""}, "{}: disconnecting", why);
  if (hook_) {
    hook_->cancel();
    hook_.reset();
    busy_ = false;
  }
  reply(421, "4.4.2", {fmt::format("{} Error: timeout exceeded ({})", env_.me, why)});
  startClose();
}

} // namespace upesi::smtp
