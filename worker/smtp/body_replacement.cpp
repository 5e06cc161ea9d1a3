#include "worker/smtp/body_replacement.hpp"

#include <string>

namespace upesi::smtp {

namespace {

MessageStreamOptions bodyOnly(MessageStreamOptions options) {
  options.body_only = true;
  return options;
}

} // namespace

BodyReplacementWriter::BodyReplacementWriter(MessageStreamOptions options,
                                             std::function<void(MessageStream)> install)
    : stream_(bodyOnly(std::move(options))), install_(std::move(install)) {}

bool BodyReplacementWriter::append(std::string_view bytes) {
  if (failed_ || committed_) {
    return false;
  }
  // Filters send LF or CRLF line ends; the stored message has CRLF only.
  std::string normalised;
  normalised.reserve(bytes.size() + bytes.size() / 32);
  for (const char c : bytes) {
    if (c == '\n' && !last_was_cr_) {
      normalised += '\r';
    }
    normalised += c;
    last_was_cr_ = c == '\r';
  }
  if (!stream_.append(normalised)) {
    failed_ = true;
  }
  return !failed_;
}

bool BodyReplacementWriter::commit() {
  if (failed_ || committed_ || !stream_.finish()) {
    return false;
  }
  committed_ = true;
  install_(std::move(stream_));
  return true;
}

} // namespace upesi::smtp
