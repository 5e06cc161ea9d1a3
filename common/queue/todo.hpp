// The "todo": the JSON header of a queue file, which says where the message goes.
//
//   {
//   	"queue_time": 1795418587971,          epoch ms when queued
//   	"domain": "example.net",              the recipients' domain (rcpt.host)
//   	"rcpt_to": [ {address}, ... ],        recipients still to deliver
//   	"mail_from": {address},               the envelope sender
//   	"notes": { ... },                     transaction notes, for the outbound hooks
//   	"uuid": "<transaction uuid>.<k>",
//   	"force_tls": false,
//   	"dsn_ret": "HDRS",                    MAIL RET= (FULL or HDRS), only when given
//   	"dsn_envid": "QQ314159",              MAIL ENVID=, xtext decoded, only when given
//   	"requiretls": true,                   MAIL REQUIRETLS (RFC 8689), only when given
//   	"mt_priority": 3                      MAIL MT-PRIORITY= (RFC 6710), only when given
//   }
//
// The last four are ours: Haraka neither writes nor reads them (a Haraka install that picks
// up such a file delivers it without them), and a file without them is read as before.
//
// Addresses are Haraka's address objects and stay JSON here so that nothing in them is lost:
//   {"original": "<a@b.c>", "original_host": "b.c", "host": "b.c", "user": "a"}
//   plus "is_utf8": true for a UTF-8 address; the null sender is
//   {"original": "<>", "host": "", "user": ""} (this key order is what Haraka 3.3.4 writes);
//   a recipient that failed once carries DSN fields (reason, dsn_action, dsn_smtp_code,
//   dsn_smtp_extc, dsn_status, dsn_smtp_response, dsn_remote_mta, dsn_code, dsn_msg).
//   A recipient that came with RCPT NOTIFY= or ORCPT= carries them too, ours alone:
//   "dsn_notify": "SUCCESS,FAILURE" (or "NEVER") and "dsn_orcpt": "rfc822;a@b.c" (decoded);
//   rcptOptionsFromJson / setRcptOptions read and write them.
// addressToJson / addressFromJson convert to and from upesi::Address.
//
// Keys Haraka does not write (a newer version's, a plugin's) are kept in `extra`, in file
// order, and written back after the known keys.
#pragma once

#include <upesi/address.hpp>
#include <upesi/envelope_options.hpp>

#include "common/util/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace upesi::queue {

struct Todo {
  std::int64_t queue_time = 0;
  std::string domain;
  std::vector<nlohmann::ordered_json> rcpt_to;
  nlohmann::ordered_json mail_from = nlohmann::ordered_json::object();
  nlohmann::ordered_json notes = nlohmann::ordered_json::object();
  std::string uuid;
  bool force_tls = false;
  DsnReturn dsn_ret = DsnReturn::Unset;
  std::string dsn_envid;
  bool requiretls = false;
  std::optional<int> mt_priority;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();

  bool operator==(const Todo&) const = default;

  /// Reads a parsed header. Required: queue_time (a number), domain (string), rcpt_to (array
  /// of objects), mail_from (object). Optional: notes (object, default {}), uuid (string,
  /// default ""), force_tls (boolean, default false), dsn_ret ("FULL" or "HDRS"), dsn_envid
  /// (string), requiretls (boolean), mt_priority (integer -9..9). A present key of the wrong
  /// type or value is an error naming it.
  static Result<Todo> fromJson(const nlohmann::ordered_json& json);
  /// The header object, keys in Haraka's order, then ours that are set, then `extra`.
  nlohmann::ordered_json toJson() const;
};

/// Haraka's address object for `address`.
nlohmann::ordered_json addressToJson(const Address& address);
/// An Address from Haraka's address object (a JSON object). "original", "user", "host",
/// "original_host" must be strings or null when present; missing or null user/host count as
/// "", original_host defaults to host, original to the formatted path. It is the null path when
/// "original" is "<>" or user and host are both empty. Other keys (DSN fields) are ignored:
/// keep the JSON to keep them.
Result<Address> addressFromJson(const nlohmann::ordered_json& json);

/// The DSN parameters a recipient's address object carries ("dsn_notify", "dsn_orcpt"); none
/// when they are absent or unreadable (a bad value counts as not given: NOTIFY's default).
RcptOptions rcptOptionsFromJson(const nlohmann::ordered_json& json);
/// Adds the options that are set to a recipient's address object (removes those that are not).
void setRcptOptions(nlohmann::ordered_json& json, const RcptOptions& options);

} // namespace upesi::queue
