#include "plugins/milter/modifications.hpp"

#include "common/smtp/address_parser.hpp"
#include "common/smtp/envelope_params.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace upesi::plugins::milter {

using upesi::milter::FilterReply;
using upesi::milter::ReplyKind;

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Filters send addresses with or without the angle brackets.
Result<Address> parseAddress(std::string_view text, smtp::PathKind kind) {
  return smtp::parsePath(text, kind, smtp::PathOptions::lenient());
}

} // namespace

EsmtpParams parseEsmtpArgs(std::string_view text) {
  EsmtpParams params;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find_first_of(" \t", start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const auto word = text.substr(start, end - start);
    if (!word.empty()) {
      const auto eq = word.find('=');
      std::string key(word.substr(0, eq));
      std::transform(key.begin(), key.end(), key.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      params.emplace_back(key, eq == std::string_view::npos ? std::string()
                                                            : std::string(word.substr(eq + 1)));
    }
    start = end + 1;
  }
  return params;
}

std::string ModificationApplier::headerValue(const std::string& value) const {
  // The API wants the value without the space after the colon; a filter that negotiated
  // SMFIP_HDR_LEADSPC sends it.
  if (leading_space_ && !value.empty() && value.front() == ' ') {
    return value.substr(1);
  }
  return value;
}

void ModificationApplier::apply(const FilterReply& change) {
  changed_ = true;
  switch (change.kind) {
  case ReplyKind::AddHeader:
    txn_.addHeader(change.name, headerValue(change.value));
    return;
  case ReplyKind::InsertHeader:
    txn_.insertHeader(change.index, change.name, headerValue(change.value));
    return;
  case ReplyKind::ChangeHeader:
    txn_.changeHeader(change.name, change.index, headerValue(change.value));
    return;
  case ReplyKind::AddRcpt:
  case ReplyKind::AddRcptPar: {
    auto address = parseAddress(change.name, smtp::PathKind::Forward);
    if (!address) {
      log_(LogLevel::Warn,
           fmt::format("add recipient {}: {}; skipped", change.name, address.error()));
      return;
    }
    txn_.rcptTo().push_back(*address);
    RcptOptions options;
    bool has_options = false;
    for (const auto& [key, value] : parseEsmtpArgs(change.value)) {
      if (key == "NOTIFY") {
        if (auto notify = smtp::parseDsnNotify(value)) {
          options.notify = *notify;
          has_options = true;
        }
      } else if (key == "ORCPT") {
        if (smtp::parseDsnOrcpt(value, options)) {
          has_options = true;
        }
      }
    }
    if (has_options) {
      txn_.setRcptOptions(*address, options);
    }
    return;
  }
  case ReplyKind::DelRcpt: {
    auto address = parseAddress(change.name, smtp::PathKind::Forward);
    const std::string wanted = lower(address ? address->address() : change.name);
    auto& list = txn_.rcptTo();
    const auto before = list.size();
    list.erase(
        std::remove_if(list.begin(), list.end(),
                       [&wanted](const Address& rcpt) { return lower(rcpt.address()) == wanted; }),
        list.end());
    if (list.size() == before) {
      log_(LogLevel::Info, fmt::format("delete recipient {}: not a recipient", change.name));
    }
    return;
  }
  case ReplyKind::ChangeFrom: {
    auto address = parseAddress(change.name, smtp::PathKind::Reverse);
    if (!address) {
      log_(LogLevel::Warn,
           fmt::format("change sender to {}: {}; skipped", change.name, address.error()));
      return;
    }
    txn_.setMailFrom(*address, parseEsmtpArgs(change.value));
    return;
  }
  case ReplyKind::ReplaceBody:
    if (body_failed_) {
      return;
    }
    if (!body_) {
      body_ = txn_.replaceBody();
      if (!body_) {
        body_failed_ = true;
        log_(LogLevel::Error, "replace body: this server cannot; the body stays");
        return;
      }
    }
    if (!body_->append(change.body)) {
      body_failed_ = true;
      body_.reset();
      log_(LogLevel::Error, "replace body: write failed; the body stays");
    }
    return;
  case ReplyKind::Quarantine:
    txn_.notes()["quarantine"] = change.name.empty() ? std::string("milter") : change.name;
    return;
  default:
    return;
  }
}

bool ModificationApplier::finish(bool keep) {
  auto body = std::move(body_);
  if (!body || !keep) {
    return !body_failed_;
  }
  if (!body->commit()) {
    log_(LogLevel::Error, "replace body: could not keep the new body; the body stays");
    return false;
  }
  return true;
}

} // namespace upesi::plugins::milter
