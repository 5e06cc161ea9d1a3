#include "worker/smtp/transaction_impl.hpp"

#include "common/log/logger.hpp"

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
  mail::WriteOptions write_options;
  write_options.dot_stuff = options.dot_stuffed;
  write_options.line_ending = options.crlf ? mail::LineEnding::Crlf : mail::LineEnding::Lf;
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
