#include "common/smtp_client/sasl_client.hpp"

#include <upesi/text.hpp>

#include "common/smtp/sasl_server.hpp"
#include "common/util/base64.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

namespace upesi::smtp_client {
namespace {

bool offers(const std::vector<std::string>& offered, SaslMechanism mechanism) {
  return std::find(offered.begin(), offered.end(), toString(mechanism)) != offered.end();
}

} // namespace

const char* toString(SaslMechanism mechanism) {
  switch (mechanism) {
  case SaslMechanism::CramMd5:
    return "CRAM-MD5";
  case SaslMechanism::Plain:
    return "PLAIN";
  case SaslMechanism::Login:
    return "LOGIN";
  }
  return "?";
}

std::optional<SaslMechanism> saslMechanismFromName(std::string_view name) {
  std::string wanted = text::toUpper(name);
  for (auto m : {SaslMechanism::CramMd5, SaslMechanism::Plain, SaslMechanism::Login}) {
    if (wanted == toString(m)) {
      return m;
    }
  }
  return std::nullopt;
}

std::vector<std::string> parseAuthMechanisms(std::string_view arguments) {
  std::vector<std::string> mechanisms;
  std::size_t pos = 0;
  while (pos < arguments.size()) {
    auto end = arguments.find(' ', pos);
    if (end == std::string_view::npos) {
      end = arguments.size();
    }
    if (end > pos) {
      auto mechanism = text::toUpper(arguments.substr(pos, end - pos));
      if (std::find(mechanisms.begin(), mechanisms.end(), mechanism) == mechanisms.end()) {
        mechanisms.push_back(std::move(mechanism));
      }
    }
    pos = end + 1;
  }
  return mechanisms;
}

Result<SaslMechanism> chooseSaslMechanism(const std::vector<std::string>& offered,
                                          std::string_view forced) {
  if (offered.empty()) {
    return Error{"the server does not offer AUTH"};
  }
  if (!forced.empty()) {
    auto mechanism = saslMechanismFromName(forced);
    if (!mechanism) {
      return Error{fmt::format("AUTH type {} is not supported (CRAM-MD5, PLAIN or LOGIN)", forced)};
    }
    if (!offers(offered, *mechanism)) {
      return Error{fmt::format("the server does not offer AUTH {}", toString(*mechanism))};
    }
    return *mechanism;
  }
  for (auto m : {SaslMechanism::CramMd5, SaslMechanism::Plain, SaslMechanism::Login}) {
    if (offers(offered, m)) {
      return m;
    }
  }
  return Error{
      fmt::format("no AUTH mechanism in common (the server offers {})", fmt::join(offered, " "))};
}

SaslClient::SaslClient(SaslMechanism mechanism, std::string user, std::string password)
    : mechanism_(mechanism), user_(std::move(user)), password_(std::move(password)) {}

std::string SaslClient::command() const {
  if (mechanism_ == SaslMechanism::Plain) {
    // RFC 4616: no authorization identity, so the server derives it from the user.
    std::string message;
    message += '\0';
    message += user_;
    message += '\0';
    message += password_;
    return "AUTH PLAIN " + base64Encode(message);
  }
  return fmt::format("AUTH {}", toString(mechanism_));
}

Result<std::string> SaslClient::respond(std::string_view challenge) {
  int step = step_++;
  switch (mechanism_) {
  case SaslMechanism::Plain:
    break; // the initial response said everything
  case SaslMechanism::Login:
    // The prompts ("Username:", "Password:") vary between servers; only their order counts.
    if (step == 0) {
      return base64Encode(user_);
    }
    if (step == 1) {
      return base64Encode(password_);
    }
    break;
  case SaslMechanism::CramMd5:
    if (step == 0) {
      auto decoded = base64Decode(challenge);
      if (!decoded || decoded->empty()) {
        return Error{"the CRAM-MD5 challenge is not base64"};
      }
      return base64Encode(user_ + " " + smtp::cramMd5Digest(*decoded, password_));
    }
    break;
  }
  return Error{fmt::format("unexpected challenge in AUTH {}", toString(mechanism_))};
}

} // namespace upesi::smtp_client
