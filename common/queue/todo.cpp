#include "common/queue/todo.hpp"

#include "common/smtp/envelope_params.hpp"

#include <fmt/format.h>

#include <string_view>

namespace upesi::queue {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view KnownKeys[] = {"queue_time", "domain",     "rcpt_to",    "mail_from",
                                          "notes",      "uuid",       "force_tls",  "dsn_ret",
                                          "dsn_envid",  "requiretls", "mt_priority"};

bool isKnownKey(std::string_view key) {
  for (const auto known : KnownKeys) {
    if (key == known) {
      return true;
    }
  }
  return false;
}

// A string member that may be absent or null ("" then); an error for any other type.
Result<std::string> optionalString(const Json& object, const char* key, std::string_view what) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    return std::string();
  }
  if (!it->is_string()) {
    return Error{fmt::format("{}: \"{}\" is not a string", what, key)};
  }
  return it->get<std::string>();
}

} // namespace

Result<Todo> Todo::fromJson(const Json& json) {
  if (!json.is_object()) {
    return Error{"queue header: not a JSON object"};
  }
  Todo todo;
  todo.extra = Json::object();

  const auto queue_time = json.find("queue_time");
  if (queue_time == json.end() || !queue_time->is_number()) {
    return Error{"queue header: \"queue_time\" missing or not a number"};
  }
  if (queue_time->is_number_float()) {
    // Haraka writes an integer. A float is truncated; past int64 (1e300) it is no time at all,
    // and converting it would be undefined behaviour.
    const double ms = queue_time->get<double>();
    if (!(ms >= -9223372036854775808.0 && ms < 9223372036854775808.0)) {
      return Error{"queue header: \"queue_time\" out of range"};
    }
    todo.queue_time = static_cast<std::int64_t>(ms);
  } else {
    todo.queue_time = queue_time->get<std::int64_t>();
  }

  const auto domain = json.find("domain");
  if (domain == json.end() || !domain->is_string()) {
    return Error{"queue header: \"domain\" missing or not a string"};
  }
  todo.domain = domain->get<std::string>();

  const auto rcpt_to = json.find("rcpt_to");
  if (rcpt_to == json.end() || !rcpt_to->is_array()) {
    return Error{"queue header: \"rcpt_to\" missing or not an array"};
  }
  for (const auto& rcpt : *rcpt_to) {
    if (!rcpt.is_object()) {
      return Error{"queue header: a \"rcpt_to\" entry is not an object"};
    }
    todo.rcpt_to.push_back(rcpt);
  }

  const auto mail_from = json.find("mail_from");
  if (mail_from == json.end() || !mail_from->is_object()) {
    return Error{"queue header: \"mail_from\" missing or not an object"};
  }
  todo.mail_from = *mail_from;

  if (const auto notes = json.find("notes"); notes != json.end()) {
    if (!notes->is_object()) {
      return Error{"queue header: \"notes\" is not an object"};
    }
    todo.notes = *notes;
  }
  if (const auto uuid = json.find("uuid"); uuid != json.end()) {
    if (!uuid->is_string()) {
      return Error{"queue header: \"uuid\" is not a string"};
    }
    todo.uuid = uuid->get<std::string>();
  }
  if (const auto force_tls = json.find("force_tls"); force_tls != json.end()) {
    if (!force_tls->is_boolean()) {
      return Error{"queue header: \"force_tls\" is not a boolean"};
    }
    todo.force_tls = force_tls->get<bool>();
  }

  if (const auto ret = json.find("dsn_ret"); ret != json.end()) {
    auto parsed = ret->is_string() ? smtp::parseDsnRet(ret->get<std::string>())
                                   : Result<DsnReturn>(Error{""});
    if (!parsed) {
      return Error{"queue header: \"dsn_ret\" is not \"FULL\" or \"HDRS\""};
    }
    todo.dsn_ret = *parsed;
  }
  if (const auto envid = json.find("dsn_envid"); envid != json.end()) {
    if (!envid->is_string()) {
      return Error{"queue header: \"dsn_envid\" is not a string"};
    }
    todo.dsn_envid = envid->get<std::string>();
  }
  if (const auto requiretls = json.find("requiretls"); requiretls != json.end()) {
    if (!requiretls->is_boolean()) {
      return Error{"queue header: \"requiretls\" is not a boolean"};
    }
    todo.requiretls = requiretls->get<bool>();
  }
  if (const auto priority = json.find("mt_priority"); priority != json.end()) {
    // JSON reads a non-negative number as unsigned: compared as signed, 2^64-1 would be -1.
    const bool in_range = priority->is_number_unsigned()
                              ? priority->get<std::uint64_t>() <= 9
                              : priority->is_number_integer() &&
                                    priority->get<std::int64_t>() >= -9 &&
                                    priority->get<std::int64_t>() <= 9;
    if (!in_range) {
      return Error{"queue header: \"mt_priority\" is not a whole number from -9 to 9"};
    }
    todo.mt_priority = priority->get<int>();
  }

  for (auto it = json.begin(); it != json.end(); ++it) {
    if (!isKnownKey(it.key())) {
      todo.extra[it.key()] = it.value();
    }
  }
  return todo;
}

Json Todo::toJson() const {
  Json json = Json::object();
  json["queue_time"] = queue_time;
  json["domain"] = domain;
  json["rcpt_to"] = Json::array();
  for (const auto& rcpt : rcpt_to) {
    json["rcpt_to"].push_back(rcpt);
  }
  json["mail_from"] = mail_from;
  json["notes"] = notes;
  json["uuid"] = uuid;
  json["force_tls"] = force_tls;
  if (dsn_ret != DsnReturn::Unset) {
    json["dsn_ret"] = dsn_ret == DsnReturn::Full ? "FULL" : "HDRS";
  }
  if (!dsn_envid.empty()) {
    json["dsn_envid"] = dsn_envid;
  }
  if (requiretls) {
    json["requiretls"] = true;
  }
  if (mt_priority) {
    json["mt_priority"] = *mt_priority;
  }
  if (extra.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) {
      if (!isKnownKey(it.key())) {
        json[it.key()] = it.value();
      }
    }
  }
  return json;
}

Json addressToJson(const Address& address) {
  Json json = Json::object();
  if (address.is_null) {
    json["original"] = "<>";
    json["host"] = "";
    json["user"] = "";
    return json;
  }
  json["original"] = address.original.empty() ? address.format() : address.original;
  json["original_host"] = address.original_host.empty() ? address.host : address.original_host;
  json["host"] = address.host;
  json["user"] = address.user;
  if (address.is_utf8) {
    json["is_utf8"] = true;
  }
  return json;
}

Result<Address> addressFromJson(const Json& json) {
  if (!json.is_object()) {
    return Error{"address: not a JSON object"};
  }
  auto original = optionalString(json, "original", "address");
  auto user = optionalString(json, "user", "address");
  auto host = optionalString(json, "host", "address");
  auto original_host = optionalString(json, "original_host", "address");
  for (const auto* field : {&original, &user, &host, &original_host}) {
    if (!*field) {
      return Error{field->error()};
    }
  }
  Address address;
  address.user = std::move(*user);
  address.host = std::move(*host);
  address.original_host = original_host->empty() ? address.host : std::move(*original_host);
  address.is_null = *original == "<>" || (address.user.empty() && address.host.empty());
  if (address.is_null) {
    address.original = "<>";
    address.user.clear();
    address.host.clear();
    address.original_host.clear();
    return address;
  }
  if (const auto is_utf8 = json.find("is_utf8"); is_utf8 != json.end()) {
    if (!is_utf8->is_boolean()) {
      return Error{"address: \"is_utf8\" is not a boolean"};
    }
    address.is_utf8 = is_utf8->get<bool>();
  }
  address.original = original->empty() ? address.format() : std::move(*original);
  return address;
}

RcptOptions rcptOptionsFromJson(const Json& json) {
  RcptOptions options;
  if (!json.is_object()) {
    return options;
  }
  if (const auto notify = json.find("dsn_notify"); notify != json.end() && notify->is_string()) {
    if (auto parsed = smtp::parseDsnNotify(notify->get<std::string>())) {
      options.notify = *parsed;
    }
  }
  if (const auto orcpt = json.find("dsn_orcpt"); orcpt != json.end() && orcpt->is_string()) {
    // Stored decoded: encoded again, it goes through the same checks as from the network.
    const auto text = orcpt->get<std::string>();
    const auto semicolon = text.find(';');
    if (semicolon != std::string::npos) {
      RcptOptions parsed;
      if (smtp::parseDsnOrcpt(text.substr(0, semicolon + 1) +
                                  smtp::encodeXtext(text.substr(semicolon + 1)),
                              parsed)) {
        options.orcpt_type = std::move(parsed.orcpt_type);
        options.orcpt_address = std::move(parsed.orcpt_address);
      }
    }
  }
  return options;
}

void setRcptOptions(Json& json, const RcptOptions& options) {
  if (!json.is_object()) {
    return;
  }
  if (options.notify.given) {
    json["dsn_notify"] = smtp::formatDsnNotify(options.notify);
  } else {
    json.erase("dsn_notify");
  }
  if (!options.orcpt_type.empty()) {
    json["dsn_orcpt"] = options.orcpt_type + ";" + options.orcpt_address;
  } else {
    json.erase("dsn_orcpt");
  }
}

} // namespace upesi::queue
