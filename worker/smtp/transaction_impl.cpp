#include "worker/smtp/transaction_impl.hpp"

#include "common/log/logger.hpp"
#include "common/smtp/envelope_params.hpp"
#include "worker/smtp/body_replacement.hpp"

#include <exception>

namespace upesi::smtp {

std::string TransactionImpl::header(std::string_view name) const {
  return message_.header().get(name).value_or(std::string());
}

std::vector<std::string> TransactionImpl::headers(std::string_view name) const {
  return message_.header().getAll(name);
}

void TransactionImpl::addHeader(std::string_view name, std::string_view value) {
  if (auto r = message_.header().add(name, value); !r) {
    log::error({uuid_, ""}, "addHeader {}: {}", name, r.error());
  }
}

void TransactionImpl::addLeadingHeader(std::string_view name, std::string_view value) {
  if (auto r = message_.header().addLeading(name, value); !r) {
    log::error({uuid_, ""}, "addLeadingHeader {}: {}", name, r.error());
  }
}

void TransactionImpl::removeHeader(std::string_view name) {
  message_.header().remove(name);
}

bool TransactionImpl::writeMessage(const std::function<bool(std::string_view)>& sink,
                                   const MessageWriteOptions& options) const {
  WriteOptions write_options;
  write_options.dot_stuff = options.dot_stuffed;
  write_options.line_ending = options.crlf ? LineEnding::Crlf : LineEnding::Lf;
  if (banner_ && mime_ != nullptr && mime_->finished() && !message_.bodyReplaced()) {
    write_options.edits = bannerEdits(mime_->root(), *banner_);
  }
  bool stopped = false;
  auto result = message_.writeTo(
      [&](std::string_view bytes) -> Result<std::monostate> {
        if (!sink(bytes)) {
          stopped = true;
          return Error{"stopped by the reader"};
        }
        return std::monostate{};
      },
      write_options);
  return result.ok() && !stopped;
}

} // namespace upesi::smtp

namespace upesi::smtp {
namespace {

// A plugin's stream callback that throws loses its handlers for this attachment or message; the
// message goes on (Haraka logs a plugin's error in an event handler the same way).
template <typename Fn> bool callPlugin(const std::string& uuid, std::string_view what, Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const std::exception& e) {
    log::crit({uuid, ""}, "stream handler ({}) threw: {}", what, e.what());
  } catch (...) {
    log::crit({uuid, ""}, "stream handler ({}) threw", what);
  }
  return false;
}

} // namespace

const BodyPart* TransactionImpl::body() const {
  return mime_ != nullptr && mime_->finished() ? &mime_->root() : nullptr;
}

void TransactionImpl::attachmentHooks(AttachmentStart start) {
  if (start) {
    attachment_starts_.push_back(std::move(start));
  }
}

void TransactionImpl::setBanner(std::string_view text, std::string_view html) {
  banner_ = Banner{std::string(text), std::string(html)};
}

void TransactionImpl::startBody(const mail::MimeLimits& limits) {
  if (mime_ != nullptr || (!parse_body_ && attachment_starts_.empty() && !banner_)) {
    return;
  }
  mail::MimeOptions options;
  options.limits = limits;
  options.keep_text = parse_body_;
  mail::MimeCallbacks callbacks;
  if (!attachment_starts_.empty()) {
    callbacks.attachment_start = [this](const mail::MimePart& part) {
      attachment_handlers_.clear();
      for (const auto& start : attachment_starts_) {
        AttachmentHandlers handlers;
        callPlugin(uuid_, "attachment start", [&] { handlers = start(part); });
        attachment_handlers_.push_back(std::move(handlers));
      }
    };
    callbacks.attachment_data = [this](const mail::MimePart&, std::string_view bytes) {
      for (auto& handlers : attachment_handlers_) {
        if (handlers.data && !callPlugin(uuid_, "attachment data", [&] { handlers.data(bytes); })) {
          handlers = {};
        }
      }
    };
    callbacks.attachment_end = [this](const mail::MimePart&) {
      for (auto& handlers : attachment_handlers_) {
        if (handlers.end) {
          callPlugin(uuid_, "attachment end", [&] { handlers.end(); });
        }
      }
      attachment_handlers_.clear();
    };
  }
  mime_ = std::make_unique<mail::MimeParser>(options, std::move(callbacks));
}

void TransactionImpl::streamMessage(StreamHandlers handlers) {
  message_handlers_.push_back(std::move(handlers));
}

void TransactionImpl::feedBody(std::string_view bytes) {
  if (mime_ != nullptr) {
    mime_->feed(bytes);
  }
  for (auto& handlers : message_handlers_) {
    if (handlers.data && !callPlugin(uuid_, "message data", [&] { handlers.data(bytes); })) {
      handlers = {};
    }
  }
}

void TransactionImpl::finishBody() {
  if (mime_ != nullptr) {
    mime_->finish();
  }
  for (auto& handlers : message_handlers_) {
    if (handlers.end) {
      callPlugin(uuid_, "message end", [&] { handlers.end(); });
    }
  }
  message_handlers_.clear();
}

RcptOptions TransactionImpl::rcptOptions(const Address& recipient) const {
  const std::string key = recipient.address();
  for (const auto& [address, options] : rcpt_options_) {
    if (address == key) {
      return options;
    }
  }
  return {};
}

void TransactionImpl::setRcptOptions(const Address& recipient, const RcptOptions& options) {
  const std::string key = recipient.address();
  for (auto& [address, stored] : rcpt_options_) {
    if (address == key) {
      stored = options;
      return;
    }
  }
  if (options == RcptOptions{}) {
    return;
  }
  rcpt_options_.emplace_back(key, options);
}

void TransactionImpl::setMailFrom(const Address& sender, const EsmtpParams& params) {
  mail_from_ = sender;
  mail_params_ = params;
  // The DSN options follow the new parameters; REQUIRETLS and MT-PRIORITY stay as MAIL gave
  // them (a filter may not loosen them).
  mail_options_.dsn_ret = DsnReturn::Unset;
  mail_options_.dsn_envid.clear();
  for (const auto& [keyword, value] : params) {
    if (keyword == "RET") {
      if (auto ret = parseDsnRet(value)) {
        mail_options_.dsn_ret = *ret;
      }
    } else if (keyword == "ENVID") {
      if (auto envid = parseDsnEnvid(value)) {
        mail_options_.dsn_envid = *envid;
      }
    }
  }
}

namespace {

// A filter's value may fold with LF alone; a stored field folds with CRLF.
std::string crlfFolded(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) {
      out += '\r';
    }
    out += value[i];
  }
  return out;
}

} // namespace

void TransactionImpl::insertHeader(std::size_t index, std::string_view name,
                                   std::string_view value) {
  if (auto r = message_.header().insert(index, name, crlfFolded(value)); !r) {
    log::error({uuid_, ""}, "insertHeader {}: {}", name, r.error());
  }
}

void TransactionImpl::changeHeader(std::string_view name, std::size_t occurrence,
                                   std::string_view value) {
  if (auto r = message_.header().change(name, occurrence, crlfFolded(value)); !r) {
    log::error({uuid_, ""}, "changeHeader {}: {}", name, r.error());
  }
}

std::unique_ptr<BodyReplacement> TransactionImpl::replaceBody() {
  return std::make_unique<BodyReplacementWriter>(
      stream_options_, [this](MessageStream body) { message_.replaceBody(std::move(body)); });
}

} // namespace upesi::smtp
