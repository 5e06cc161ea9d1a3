// In-memory Connection and Transaction for plugin unit tests: the state a plugin reads and
// writes, with a message (header lines and a CRLF body) that writeMessage streams in small
// chunks so that a sink's chunk handling is exercised.
#pragma once

#include <upesi/connection.hpp>
#include <upesi/text.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi::test {

class FakeTransaction final : public Transaction {
public:
  explicit FakeTransaction(std::string uuid) : uuid_(std::move(uuid)) {}

  const std::string& uuid() const override { return uuid_; }
  const Address& mailFrom() const override { return mail_from; }
  const EsmtpParams& mailParams() const override { return mail_params; }
  std::vector<Address>& rcptTo() override { return rcpt_to; }
  nlohmann::json& notes() override { return notes_; }
  Results& results() override { return results_; }
  std::uint64_t dataBytes() const override { return body.size(); }

  std::string header(std::string_view name) const override {
    for (const auto& [n, v] : header_lines) {
      if (text::equalsIgnoreCase(n, name)) {
        return v;
      }
    }
    return {};
  }
  std::vector<std::string> headers(std::string_view name) const override {
    std::vector<std::string> out;
    for (const auto& [n, v] : header_lines) {
      if (text::equalsIgnoreCase(n, name)) {
        out.push_back(v);
      }
    }
    return out;
  }
  void addHeader(std::string_view name, std::string_view value) override {
    header_lines.emplace_back(std::string(name), std::string(value));
  }
  void addLeadingHeader(std::string_view name, std::string_view value) override {
    header_lines.insert(header_lines.begin(), {std::string(name), std::string(value)});
  }
  void removeHeader(std::string_view name) override {
    std::erase_if(header_lines,
                  [&](const auto& h) { return text::equalsIgnoreCase(h.first, name); });
  }

  /// Streams "Name: value" lines, a blank line and the body, in chunks of `chunk_size` bytes.
  bool writeMessage(const std::function<bool(std::string_view)>& sink,
                    const MessageWriteOptions& options) const override {
    ++write_calls;
    if (fail_write) {
      return false;
    }
    std::string text;
    for (const auto& [n, v] : header_lines) {
      text += n + ": " + v + "\r\n";
    }
    text += "\r\n";
    text += body;
    if (options.dot_stuffed) {
      std::string stuffed;
      bool line_start = true;
      for (char c : text) {
        if (line_start && c == '.') {
          stuffed += '.';
        }
        stuffed += c;
        line_start = c == '\n';
      }
      text = std::move(stuffed);
    }
    if (!options.crlf) {
      std::string lf;
      for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
          continue;
        }
        lf += text[i];
      }
      text = std::move(lf);
    }
    for (std::size_t at = 0; at < text.size(); at += chunk_size) {
      if (!sink(std::string_view(text).substr(at, chunk_size))) {
        return false;
      }
    }
    return true;
  }

  const MailOptions& mailOptions() const override { return mail_options; }
  RcptOptions rcptOptions(const Address& recipient) const override {
    auto it = rcpt_options.find(recipient.address());
    return it == rcpt_options.end() ? RcptOptions{} : it->second;
  }

  Address mail_from;
  EsmtpParams mail_params;
  std::vector<Address> rcpt_to;
  MailOptions mail_options;
  std::map<std::string, RcptOptions> rcpt_options; ///< by Address::address()
  std::vector<std::pair<std::string, std::string>> header_lines;
  std::string body; ///< CRLF line ends, not dot-stuffed
  std::size_t chunk_size = 7;
  bool fail_write = false;
  mutable int write_calls = 0;

private:
  std::string uuid_;
  nlohmann::json notes_ = nlohmann::json::object();
  Results results_;
};

class FakeConnection final : public Connection {
public:
  FakeConnection() {
    remote_endpoint.ip = "192.0.2.10";
    remote_endpoint.port = 40000;
    local_endpoint.ip = "192.0.2.1";
    local_endpoint.port = 25;
    local_endpoint.host = "mx.test";
  }

  const std::string& uuid() const override { return uuid_; }
  const Endpoint& remote() const override { return remote_endpoint; }
  const Endpoint& local() const override { return local_endpoint; }
  const std::string& helloVerb() const override { return hello_verb; }
  const std::string& helloHost() const override { return hello_host; }
  bool tls() const override { return is_tls; }

  bool relaying() const override { return txn_ ? txn_relaying_ : connection_relaying_; }
  void setRelaying(bool relaying) override {
    (txn_ ? txn_relaying_ : connection_relaying_) = relaying;
  }

  nlohmann::json& notes() override { return notes_; }
  Results& results() override { return results_; }
  Transaction* transaction() override { return txn_.get(); }
  std::shared_ptr<Transaction> sharedTransaction() override { return txn_; }
  std::vector<std::string>& capabilities() override { return capabilities_; }
  unsigned transactionCount() const override { return transaction_count_; }
  bool earlyTalker() const override { return early_talker; }
  void disconnect() override { disconnected = true; }

  /// Opens a transaction as MAIL FROM does; relaying starts from the connection's value.
  FakeTransaction& begin(const Address& from = {}) {
    ++transaction_count_;
    txn_ = std::make_shared<FakeTransaction>(uuid_ + "." + std::to_string(transaction_count_));
    txn_->mail_from = from;
    txn_relaying_ = connection_relaying_;
    return *txn_;
  }
  void end() { txn_.reset(); }
  FakeTransaction& txn() { return *txn_; }

  Endpoint remote_endpoint;
  Endpoint local_endpoint;
  std::string hello_verb;
  std::string hello_host;
  bool is_tls = false;
  bool early_talker = false;
  bool disconnected = false;

private:
  std::string uuid_ = "A1B2C3D4-0000-4000-8000-000000000001";
  bool connection_relaying_ = false;
  bool txn_relaying_ = false;
  nlohmann::json notes_ = nlohmann::json::object();
  Results results_;
  std::shared_ptr<FakeTransaction> txn_;
  std::vector<std::string> capabilities_;
  unsigned transaction_count_ = 0;
};

/// Builds an Address the way the parser would: user@host with the host lower-cased.
inline Address makeAddress(std::string user, std::string host) {
  Address a;
  a.original = user + "@" + host;
  a.user = std::move(user);
  a.original_host = host;
  a.host = text::toLower(host);
  return a;
}

inline Address nullAddress() {
  Address a;
  a.is_null = true;
  return a;
}

} // namespace upesi::test
