#include "worker/smtp/auth_exchange.hpp"

#include <upesi/text.hpp>

#include "common/smtp/sasl_server.hpp"
#include "common/util/base64.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <utility>

namespace upesi::smtp {
namespace {

AuthRefusal invalid(const std::string& why) {
  return {Reply{501, "5.5.2", {fmt::format("Invalid AUTH string: {}", why)}}};
}

AuthAttempt passwordAttempt(std::string method, std::string user, std::string password) {
  AuthAttempt attempt;
  attempt.method = std::move(method);
  attempt.user = std::move(user);
  attempt.password = std::move(password);
  attempt.matches = [password = attempt.password](std::string_view secret) {
    return constantTimeEquals(password, secret);
  };
  return attempt;
}

AuthAttempt cramAttempt(std::string user, std::string challenge, std::string digest) {
  AuthAttempt attempt;
  attempt.method = "CRAM-MD5";
  attempt.user = std::move(user);
  attempt.matches = [challenge = std::move(challenge),
                     digest = std::move(digest)](std::string_view secret) {
    return constantTimeEquals(cramMd5Digest(challenge, secret), digest);
  };
  return attempt;
}

} // namespace

AuthNext AuthExchange::start(std::string_view mechanism, std::string_view initial_response,
                             std::string cram_challenge) {
  end();
  const std::string name = text::toUpper(mechanism);
  if (name == "PLAIN") {
    step_ = Step::PlainResponse;
    if (initial_response.empty()) {
      return AuthPrompt{""};
    }
    return response(initial_response);
  }
  if (name == "LOGIN") {
    step_ = Step::LoginUser;
    if (initial_response.empty()) {
      return AuthPrompt{base64Encode("Username:")};
    }
    return response(initial_response);
  }
  if (name == "CRAM-MD5") {
    if (!initial_response.empty()) {
      return AuthRefusal{Reply{501, "5.5.4", {"CRAM-MD5 takes no initial response"}}};
    }
    step_ = Step::CramResponse;
    challenge_ = std::move(cram_challenge);
    return AuthPrompt{base64Encode(challenge_)};
  }
  // Offered by a plugin, but there is no exchange for it here.
  return AuthRefusal{Reply{504, "5.5.4", {"Unrecognized authentication type"}}};
}

AuthNext AuthExchange::response(std::string_view line) {
  const Step step = step_;
  if (step == Step::None) {
    return AuthRefusal{Reply{503, "5.5.1", {"No authentication in progress"}}};
  }
  if (line == "*") {
    end();
    return AuthRefusal{Reply{501, "5.0.0", {"Authentication cancelled"}}, false};
  }
  std::optional<std::string> decoded =
      line == "=" ? std::optional<std::string>(std::string()) : base64Decode(line);
  if (!decoded) {
    end();
    return AuthRefusal{Reply{501, "5.5.2", {"Cannot decode response"}}};
  }
  switch (step) {
  case Step::PlainResponse: {
    end();
    auto credentials = parsePlainResponse(*decoded);
    if (!credentials) {
      return invalid(credentials.error());
    }
    return passwordAttempt("PLAIN", std::move(credentials->user), std::move(credentials->password));
  }
  case Step::LoginUser:
    login_user_ = std::move(*decoded);
    step_ = Step::LoginPassword;
    return AuthPrompt{base64Encode("Password:")};
  case Step::LoginPassword: {
    std::string user = std::move(login_user_);
    end();
    return passwordAttempt("LOGIN", std::move(user), std::move(*decoded));
  }
  case Step::CramResponse: {
    std::string challenge = std::move(challenge_);
    end();
    auto credentials = parseCramMd5Response(*decoded);
    if (!credentials) {
      return invalid(credentials.error());
    }
    return cramAttempt(std::move(credentials->user), std::move(challenge),
                       std::move(credentials->digest));
  }
  case Step::None:
    break;
  }
  return AuthRefusal{Reply{503, "5.5.1", {"No authentication in progress"}}};
}

std::size_t AuthExchange::lineLimit(std::size_t command_line_limit) const {
  return awaitingResponse() ? std::max(command_line_limit, kMaxResponseLine) : command_line_limit;
}

AuthRefusal AuthExchange::responseTooLong() {
  end();
  skipping_line_ = true;
  return AuthRefusal{Reply{500, "5.5.6", {"Authentication Exchange line is too long"}}};
}

std::size_t AuthExchange::skipLine(std::string_view input) {
  if (!skipping_line_) {
    return 0;
  }
  auto lf = input.find('\n');
  if (lf == std::string_view::npos) {
    return input.size();
  }
  skipping_line_ = false;
  return lf + 1;
}

void AuthExchange::end() {
  step_ = Step::None;
  challenge_.clear();
  login_user_.clear();
}

} // namespace upesi::smtp
