// Session: SMTP AUTH (RFC 4954). The core runs the SASL exchange (PLAIN, LOGIN, CRAM-MD5, in
// AuthExchange) so that plugin order cannot break it; auth plugins advertise mechanisms in
// `capabilities` and check credentials in the `auth` hook. Passwords are never logged.
#include <upesi/text.hpp>

#include "common/log/escape.hpp"
#include "common/log/logger.hpp"
#include "common/smtp/sasl_server.hpp"
#include "worker/smtp/auth_exchange.hpp"
#include "worker/smtp/auth_failures.hpp"
#include "worker/smtp/client_key.hpp"
#include "worker/smtp/session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <strings.h>
#include <variant>

namespace upesi::smtp {
namespace {

bool isAuthCapability(const std::string& c) {
  return c.size() >= 5 &&
         (strncasecmp(c.c_str(), "AUTH ", 5) == 0 || strncasecmp(c.c_str(), "AUTH=", 5) == 0);
}

} // namespace

std::vector<std::string> Session::authMechanisms() const {
  std::vector<std::string> mechanisms;
  for (const auto& c : capabilities_) {
    if (!isAuthCapability(c)) {
      continue;
    }
    std::string_view rest(c);
    rest.remove_prefix(5);
    while (!rest.empty()) {
      auto space = rest.find(' ');
      auto word = rest.substr(0, space);
      if (!word.empty()) {
        auto m = text::toUpper(word);
        if (std::find(mechanisms.begin(), mechanisms.end(), m) == mechanisms.end()) {
          mechanisms.push_back(m);
        }
      }
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    }
  }
  return mechanisms;
}

void Session::filterAuthCapability() {
  // Passwords never cross the network in clear unless the operator says so; an authenticated
  // client is not offered AUTH again.
  if ((limits_.auth_requires_tls && !tls()) || !auth_user_.empty()) {
    capabilities_.erase(
        std::remove_if(capabilities_.begin(), capabilities_.end(), isAuthCapability),
        capabilities_.end());
  }
}

std::string Session::authFailureKey() const {
  return clientKey(remote_.ip, limits_.ipv6_client_prefix);
}

void Session::cmdAuth(std::string_view argument) {
  if (!auth_user_.empty()) {
    refuse(503, "5.5.1", {"Already authenticated"});
    return;
  }
  if (txn_) {
    refuse(503, "5.5.1", {"AUTH not permitted during a mail transaction"});
    return;
  }
  auto space = argument.find(' ');
  std::string mechanism = text::toUpper(argument.substr(0, space));
  std::string_view initial =
      space == std::string_view::npos ? std::string_view() : argument.substr(space + 1);
  auto offered = authMechanisms();
  if (mechanism.empty() || std::find(offered.begin(), offered.end(), mechanism) == offered.end()) {
    refuse(504, "5.5.4", {"Unrecognized authentication type"});
    return;
  }
  if (env_.auth_failures && env_.auth_failures->blocked(authFailureKey())) {
    log::notice({logUuid(), ""}, "AUTH refused: too many failures from {}", authFailureKey());
    refuse(454, "4.7.0", {"Too many failed authentications; try again later"});
    return;
  }
  if (!initial.empty()) {
    logAuthResponse();
  }
  authNext(auth_.start(mechanism, initial, cramMd5Challenge(env_.me)));
}

void Session::logAuthResponse() {
  if (log::Logger::instance().enabled(log::Level::Protocol)) {
    log::protocol({logUuid(), ""}, "C: *** (AUTH response)");
  }
}

void Session::authContinue(std::string_view line) {
  logAuthResponse();
  authNext(auth_.response(line));
}

void Session::authNext(AuthNext next) {
  if (auto* prompt = std::get_if<AuthPrompt>(&next)) {
    reply(334, "", {std::move(prompt->text)});
  } else if (auto* refusal = std::get_if<AuthRefusal>(&next)) {
    if (refusal->counts_as_error) {
      refuse(std::move(refusal->reply));
    } else {
      reply(std::move(refusal->reply));
    }
  } else {
    checkCredentials(std::move(std::get<AuthAttempt>(next)));
  }
}

void Session::checkCredentials(AuthAttempt attempt) {
  pending_auth_ = std::move(attempt);
  // Counted now, not when the exchange began: connections that all wait at the prompt and then
  // answer together must not get a guess each past the limit.
  if (env_.auth_failures && !env_.auth_failures->admit(authFailureKey())) {
    log::notice({logUuid(), ""}, "AUTH {} user=\"{}\" refused unchecked: too many failures from {}",
                pending_auth_.method, log::escaped(pending_auth_.user), authFailureKey());
    pending_auth_ = {};
    env_.metrics.authFailed();
    refuse(454, "4.7.0", {"Too many failed authentications; try again later"});
    return;
  }
  if (pending_auth_.user.empty()) {
    authFailed("empty user name");
    return;
  }
  runHook(Hook::Auth, HookArguments::authentication(pending_auth_),
          [this](HookResult result) { authRespond(std::move(result)); });
}

void Session::authRespond(HookResult result) {
  if (result.code == Code::Ok) {
    if (env_.auth_failures) {
      env_.auth_failures->forgive(authFailureKey());
    }
    auth_user_ = pending_auth_.user;
    notes_["auth_user"] = auth_user_;
    notes_["auth_method"] = pending_auth_.method;
    setRelaying(true);
    log::info({logUuid(), result.plugin}, "AUTH {} user=\"{}\" succeeded", pending_auth_.method,
              log::escaped(auth_user_));
    pending_auth_ = {};
    env_.metrics.authSucceeded();
    reply(235, "2.7.0", {"Authentication successful"});
    return;
  }
  if (result.code == Code::DenySoft || result.code == Code::DenySoftDisconnect) {
    if (env_.auth_failures) {
      env_.auth_failures->forgive(authFailureKey()); // not the client's failure
    }
    log::notice({logUuid(), result.plugin}, "AUTH {} user=\"{}\": temporary failure",
                pending_auth_.method, log::escaped(pending_auth_.user));
    pending_auth_ = {};
    env_.metrics.authFailed();
    refuse(454, "4.7.0", {"Temporary authentication failure"});
    return;
  }
  authFailed(result.code == Code::Cont ? "no auth plugin accepted the credentials"
                                       : "credentials refused");
}

void Session::authFailed(std::string why) {
  ++auth_failures_; // the per-client count took it when the check began
  env_.metrics.authFailed();
  log::notice({logUuid(), ""}, "AUTH {} user=\"{}\" failed ({}): {} of {} on this connection",
              pending_auth_.method, log::escaped(pending_auth_.user), why, auth_failures_,
              limits_.max_auth_failures);
  pending_auth_ = {};
  // Slow guessing down: 1, 2, 4 ... times the base delay, at most 16 times.
  std::uint64_t delay_ms = static_cast<std::uint64_t>(limits_.auth_failure_delay_s) * 1000 *
                           (1ULL << std::min(auth_failures_ - 1, 4U));
  auto answer = [this]() {
    busy_ = false;
    refuse(535, "5.7.8", {"Authentication credentials invalid"});
    if (auth_failures_ >= limits_.max_auth_failures && phase_ == Phase::Command) {
      reply(421, "4.7.0", {fmt::format("{} Too many failed authentications", env_.me)});
      startClose();
    }
    hookFinished();
  };
  if (delay_ms == 0) {
    answer();
    return;
  }
  busy_ = true;
  auth_delay_.start(delay_ms, [this, answer]() {
    if (peer_gone_ || phase_ == Phase::Closing || phase_ == Phase::Closed) {
      return;
    }
    answer();
  });
}

} // namespace upesi::smtp
