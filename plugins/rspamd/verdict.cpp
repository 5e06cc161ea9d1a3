#include "plugins/rspamd/verdict.hpp"

#include <fmt/format.h>

#include <cmath>

namespace upesi::plugins::rspamd {

ScanReply parseReply(std::string_view body) {
  ScanReply reply;
  if (body.empty()) {
    return reply;
  }
  // No exceptions: a hostile reply gets a discarded value, and depth is bounded by the
  // client's body limit.
  reply.data = nlohmann::json::parse(body, nullptr, false);
  if (reply.data.is_discarded()) {
    reply.error = "parse failure: the reply is not JSON";
    return reply;
  }
  if (!reply.data.is_object()) {
    reply.error = "parse failure: the reply is not a JSON object";
    return reply;
  }
  if (reply.data.empty()) {
    return reply;
  }
  if (reply.data.size() == 1 && reply.data.contains("error")) {
    const auto& error = reply.data["error"];
    reply.error = error.is_string() ? error.get<std::string>() : error.dump();
    return reply;
  }
  reply.ok = true;
  return reply;
}

nlohmann::json summary(const nlohmann::json& data) {
  nlohmann::json clean = {{"symbols", nlohmann::json::object()}};
  if (auto symbols = data.find("symbols"); symbols != data.end() && symbols->is_object()) {
    for (const auto& [key, symbol] : symbols->items()) {
      if (symbol.is_object() && symbol.contains("name") && symbol["name"].is_string() &&
          symbol.contains("score")) {
        clean["symbols"][symbol["name"].get<std::string>()] = symbol["score"];
      }
    }
  }
  for (const char* key : {"action", "is_skipped", "required_score", "score"}) {
    auto value = data.find(key);
    if (value != data.end() && (value->is_boolean() || value->is_number() || value->is_string())) {
      clean[key] = *value;
    }
  }
  for (const char* key : {"urls", "emails", "messages"}) {
    auto value = data.find(key);
    if (value == data.end()) {
      continue;
    }
    std::string text;
    if (value->is_array()) {
      for (const auto& item : *value) {
        text +=
            (text.empty() ? "" : ",") + (item.is_string() ? item.get<std::string>() : item.dump());
      }
    } else if (value->is_object()) {
      for (const auto& [name, item] : value->items()) {
        text += (text.empty() ? "" : ",") + name + " : " +
                (item.is_string() ? item.get<std::string>() : item.dump());
      }
    } else {
      continue;
    }
    clean[key] = text;
  }
  return clean;
}

namespace {

std::string stringAt(const nlohmann::json& data, const char* key) {
  auto value = data.find(key);
  return value != data.end() && value->is_string() ? value->get<std::string>() : std::string();
}

std::string smtpMessage(const Settings& settings, const nlohmann::json& data) {
  if (!settings.smtp_message_enabled) {
    return {};
  }
  auto messages = data.find("messages");
  if (messages == data.end() || !messages->is_object()) {
    return {};
  }
  return stringAt(*messages, "smtp_message");
}

} // namespace

Decision decide(const Settings& settings, const nlohmann::json& data, bool authenticated) {
  const std::string action = stringAt(data, "action");
  const std::string smtp_message = smtpMessage(settings, data);
  // "greylist" is rspamd's ask to try later; Haraka's plugin lets it pass.
  if (settings.soft_reject_enabled && (action == "soft reject" || action == "greylist")) {
    return {Code::DenySoft, smtp_message.empty() ? settings.soft_reject_message : smtp_message};
  }
  if (action == "reject" &&
      (authenticated ? settings.reject_authenticated : settings.reject_spam)) {
    return {Code::Deny, smtp_message.empty() ? settings.reject_message : smtp_message};
  }
  return {};
}

std::string rewrittenSubject(const Settings& settings, const nlohmann::json& data,
                             std::string_view old_subject) {
  std::string subject = stringAt(data, "subject");
  if (subject.empty()) {
    subject = settings.subject;
  }
  if (auto mark = subject.find("%s"); mark != std::string::npos) {
    subject.replace(mark, 2, old_subject);
  }
  return subject;
}

std::string jsNumber(const nlohmann::json& value) {
  if (!value.is_number()) {
    return value.is_string() ? value.get<std::string>() : value.dump();
  }
  const double number = value.get<double>();
  if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 1e15) {
    return fmt::format("{}", static_cast<long long>(number));
  }
  return fmt::format("{}", number); // the shortest text that reads back the same, as JS
}

std::string spamBar(const Settings& settings, double score) {
  auto repeat = [](const std::string& unit, double times) {
    std::string bar;
    // Bounded: a hostile score must not make a header of any length.
    for (int i = 0; i < static_cast<int>(std::fmin(times, 100.0)); ++i) {
      bar += unit;
    }
    return bar;
  };
  if (score >= 1) {
    return repeat(settings.spambar_positive.empty() ? "+" : settings.spambar_positive,
                  std::floor(score));
  }
  if (score <= -1) {
    return repeat(settings.spambar_negative.empty() ? "-" : settings.spambar_negative,
                  std::floor(-score));
  }
  return settings.spambar_neutral.empty() ? "/" : settings.spambar_neutral;
}

std::string symbolReport(const nlohmann::json& symbols) {
  std::string report;
  if (!symbols.is_object()) {
    return report;
  }
  for (const auto& [key, symbol] : symbols.items()) {
    if (!symbol.is_object() || !symbol.contains("name") || !symbol.contains("score")) {
      continue;
    }
    const auto& score = symbol["score"];
    if (!score.is_number() || score.get<double>() == 0) {
      continue;
    }
    report += (report.empty() ? "" : " ") +
              fmt::format("{}({})", stringAt(symbol, "name"), jsNumber(score));
  }
  return report;
}

} // namespace upesi::plugins::rspamd
