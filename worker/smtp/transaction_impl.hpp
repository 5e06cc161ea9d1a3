// The server's Transaction: envelope, notes, results and the stored message of one MAIL FROM
// ... end-of-DATA exchange.
#pragma once

#include <upesi/connection.hpp>

#include "common/mail/mime_parser.hpp"
#include "worker/smtp/banner.hpp"
#include "worker/smtp/message_stream.hpp"

#include <memory>
#include <optional>

namespace upesi::smtp {

class TransactionImpl final : public Transaction {
public:
  TransactionImpl(std::string uuid, Address mail_from, EsmtpParams mail_params,
                  MessageStreamOptions stream_options)
      : uuid_(std::move(uuid)), mail_from_(std::move(mail_from)),
        mail_params_(std::move(mail_params)), stream_options_(stream_options),
        message_(std::move(stream_options)) {}

  const std::string& uuid() const override { return uuid_; }
  const Address& mailFrom() const override { return mail_from_; }
  const EsmtpParams& mailParams() const override { return mail_params_; }
  std::vector<Address>& rcptTo() override { return rcpt_to_; }
  nlohmann::json& notes() override { return notes_; }
  Results& results() override { return results_; }
  std::uint64_t dataBytes() const override { return data_bytes_; }

  std::string header(std::string_view name) const override;
  std::vector<std::string> headers(std::string_view name) const override;
  void addHeader(std::string_view name, std::string_view value) override;
  void addLeadingHeader(std::string_view name, std::string_view value) override;
  void removeHeader(std::string_view name) override;
  bool writeMessage(const std::function<bool(std::string_view)>& sink,
                    const MessageWriteOptions& options) const override;

  void parseBody(bool parse) override { parse_body_ = parse; }
  bool parseBody() const override { return parse_body_; }
  const BodyPart* body() const override;
  void attachmentHooks(AttachmentStart start) override;
  void setBanner(std::string_view text, std::string_view html) override;
  const MailOptions& mailOptions() const override { return mail_options_; }
  RcptOptions rcptOptions(const Address& recipient) const override;
  void streamMessage(StreamHandlers handlers) override;
  void setMailFrom(const Address& sender, const EsmtpParams& params) override;
  /// Replaces what an earlier RCPT (or call) for the same address gave.
  void setRcptOptions(const Address& recipient, const RcptOptions& options) override;
  void insertHeader(std::size_t index, std::string_view name, std::string_view value) override;
  void changeHeader(std::string_view name, std::size_t occurrence, std::string_view value) override;
  std::unique_ptr<BodyReplacement> replaceBody() override;

  void setMailOptions(MailOptions options) { mail_options_ = std::move(options); }

  /// At the start of DATA/BDAT: starts the MIME parser if a plugin asked for the body.
  void startBody(const mail::MimeLimits& limits);
  /// The message bytes as stored, and their end (before data_post).
  void feedBody(std::string_view bytes);
  void finishBody();

  MessageStream& message() { return message_; }
  void setDataBytes(std::uint64_t bytes) { data_bytes_ = bytes; }

  /// Relaying set while this transaction is open (Haraka keeps it on the transaction).
  bool relaying = false;
  /// A recipient was accepted because a plugin turned relaying on for it alone (e.g. relay's
  /// dest_domains): the message goes to the outbound queue.
  bool relays_recipients = false;

private:
  std::string uuid_;
  Address mail_from_;
  EsmtpParams mail_params_;
  std::vector<Address> rcpt_to_;
  MailOptions mail_options_;
  std::vector<std::pair<std::string, RcptOptions>> rcpt_options_; // by Address::address()
  nlohmann::json notes_ = nlohmann::json::object();
  Results results_;
  MessageStreamOptions stream_options_; // for a replacement body
  MessageStream message_;
  std::uint64_t data_bytes_ = 0;

  bool parse_body_ = false;
  std::vector<AttachmentStart> attachment_starts_;
  // Where the attachment streaming now goes: one entry per attachmentHooks() call.
  std::vector<AttachmentHandlers> attachment_handlers_;
  std::unique_ptr<mail::MimeParser> mime_;
  std::vector<StreamHandlers> message_handlers_; // streamMessage()
  std::optional<Banner> banner_;
};

} // namespace upesi::smtp
