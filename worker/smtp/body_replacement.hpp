// The writer Transaction::replaceBody hands out: a body_only MessageStream (memory, then the
// spool file past spool_after, as a received message) that lone LF line ends reach as CRLF, and
// that replaces the transaction's body at commit().
#pragma once

#include <upesi/connection.hpp>

#include "worker/smtp/message_stream.hpp"

#include <functional>

namespace upesi::smtp {

class BodyReplacementWriter final : public BodyReplacement {
public:
  /// `install` gets the finished stream at commit().
  BodyReplacementWriter(MessageStreamOptions options, std::function<void(MessageStream)> install);

  bool append(std::string_view bytes) override;
  bool commit() override;

private:
  MessageStream stream_;
  std::function<void(MessageStream)> install_;
  bool last_was_cr_ = false;
  bool failed_ = false;
  bool committed_ = false;
};

} // namespace upesi::smtp
