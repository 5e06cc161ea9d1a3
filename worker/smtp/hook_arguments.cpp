#include "worker/smtp/hook_arguments.hpp"

namespace upesi::smtp {

HookArguments::HookArguments() : values_(std::make_shared<Values>()) {}

HookArguments HookArguments::command(std::string verb, std::string argument) {
  auto values = std::make_shared<Values>();
  values->verb = std::move(verb);
  values->argument = std::move(argument);
  values->params.verb = values->verb;
  values->params.argument = values->argument;
  return HookArguments(std::move(values));
}

HookArguments HookArguments::hello(std::string host) {
  auto values = std::make_shared<Values>();
  values->host = std::move(host);
  values->params.host = values->host;
  return HookArguments(std::move(values));
}

HookArguments HookArguments::envelope(Address address, EsmtpParams esmtp, EsmtpClaims claims) {
  auto values = std::make_shared<Values>();
  values->address = std::move(address);
  values->esmtp = std::move(esmtp);
  values->claims = std::move(claims);
  values->params.address = &values->address;
  values->params.esmtp = &values->esmtp;
  values->params.claims = &values->claims;
  return HookArguments(std::move(values));
}

HookArguments HookArguments::recipient(Address address, EsmtpParams esmtp, EsmtpClaims claims) {
  auto arguments = envelope(std::move(address), std::move(esmtp), std::move(claims));
  arguments.values_->params.recipient = &arguments.values_->address;
  return arguments;
}

HookArguments HookArguments::queued(std::string message) {
  auto values = std::make_shared<Values>();
  values->message = std::move(message);
  values->params.message = values->message;
  return HookArguments(std::move(values));
}

HookArguments HookArguments::authentication(AuthAttempt attempt) {
  auto values = std::make_shared<Values>();
  values->auth = std::move(attempt);
  values->params.auth = &values->auth;
  return HookArguments(std::move(values));
}

HookArguments HookArguments::withAddress(Address address) const {
  auto values = std::make_shared<Values>();
  values->verb = values_->verb;
  values->argument = values_->argument;
  values->params.verb = values->verb;
  values->params.argument = values->argument;
  values->address = std::move(address);
  values->params.address = &values->address;
  return HookArguments(std::move(values));
}

} // namespace upesi::smtp
