// rspamd.ini as the plugin uses it: Haraka's keys and defaults (haraka-plugin-rspamd), and
// max_size, which bounds the copy of the message the plugin holds while rspamd reads it.
// Reading never throws: a bad value is reported in `errors` and its default stays.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace upesi::plugins::rspamd {

enum class AddHeaders { Sometimes, Always, Never };

struct Settings {
  std::string host = "localhost";
  std::uint16_t port = 11333;
  std::string path = "/checkv2";
  std::string scheme = "http";
  std::string unix_socket;
  unsigned timeout = 29; ///< seconds for the whole exchange (Haraka: plugin timeout - 1)
  /// Larger messages are not scanned: the plugin holds the message in memory while it is sent.
  std::uint64_t max_size = 10 * 1024 * 1024;
  AddHeaders add_headers = AddHeaders::Sometimes;
  std::string subject = "[SPAM] %s";

  bool check_authenticated = false;
  bool check_relay = false;
  bool check_private_ip = false;
  bool check_local_ip = false;

  bool reject_spam = true;
  bool reject_authenticated = false;
  std::string reject_message = "Detected as spam";
  bool soft_reject_enabled = true;
  std::string soft_reject_message = "Deferred by policy";
  bool smtp_message_enabled = true;
  bool rewrite_subject_enabled = true;
  bool rmilter_headers_enabled = true;
  bool dkim_enabled = true;

  bool defer_error = false;
  bool defer_timeout = false;

  std::string header_bar;    ///< [header] bar: the name of the spam bar's field, "" for none
  std::string header_report; ///< [header] report
  std::string header_score;  ///< [header] score
  std::string spambar_positive = "+";
  std::string spambar_negative = "-";
  std::string spambar_neutral = "/";

  /// Fields sent with every request, from [request], [auth] and [request_headers].
  std::vector<std::pair<std::string, std::string>> fixed_headers;

  std::vector<std::string> errors;
};

/// The booleans of rspamd.ini, as Haraka declares them.
const std::vector<std::string>& iniBooleans();

Settings readSettings(const nlohmann::json& ini);

} // namespace upesi::plugins::rspamd
