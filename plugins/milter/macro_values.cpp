#include "plugins/milter/macro_values.hpp"

#include <fmt/format.h>

namespace upesi::plugins::milter {

std::string macroValue(std::string_view name, const MacroContext& context) {
  if (name.size() >= 2 && name.front() == '{' && name.back() == '}') {
    name = name.substr(1, name.size() - 2);
  }
  Connection& connection = context.connection;
  const Endpoint& remote = connection.remote();
  const Endpoint& local = connection.local();
  const Transaction* txn = context.transaction;
  const TlsInfo& tls = connection.tlsInfo();

  if (name == "j") {
    return context.me;
  }
  if (name == "daemon_name") {
    return "upesi";
  }
  if (name == "v") {
    return "Upesi";
  }
  if (name == "daemon_addr" || name == "if_addr") {
    return local.ip;
  }
  if (name == "daemon_port") {
    return local.port == 0 ? std::string() : std::to_string(local.port);
  }
  if (name == "if_name") {
    return local.host.empty() ? context.me : local.host;
  }
  if (name == "_") {
    return fmt::format("{} [{}]", remote.host.empty() ? "unknown" : remote.host, remote.ip);
  }
  if (name == "client_addr") {
    return remote.ip;
  }
  if (name == "client_name" || name == "client_ptr") {
    return remote.host.empty() ? "unknown" : remote.host;
  }
  if (name == "client_port") {
    return std::to_string(remote.port);
  }
  if (name == "client_connections" || name == "client_resolve") {
    return {};
  }
  if (tls.enabled) {
    if (name == "tls_version") {
      return tls.version;
    }
    if (name == "cipher") {
      return tls.cipher;
    }
    if (name == "cipher_bits") {
      return tls.cipher_bits > 0 ? std::to_string(tls.cipher_bits) : std::string();
    }
    if (name == "cert_subject") {
      return tls.peer_subject;
    }
    if (name == "cert_issuer") {
      return tls.peer_issuer;
    }
  }
  if (name == "auth_type") {
    const auto& notes = connection.notes();
    if (notes.is_object() && notes.contains("auth_method") && notes["auth_method"].is_string()) {
      return notes["auth_method"].get<std::string>();
    }
    return {};
  }
  if (name == "auth_authen") {
    return connection.authUser();
  }
  if (name == "i") {
    return txn != nullptr ? txn->uuid() : connection.uuid();
  }
  if (txn != nullptr) {
    if (name == "mail_addr") {
      return txn->mailFrom().address();
    }
    if (name == "mail_host") {
      return txn->mailFrom().host;
    }
    if (name == "mail_mailer") {
      return "smtp";
    }
  }
  if (context.recipient != nullptr) {
    if (name == "rcpt_addr") {
      return context.recipient->address();
    }
    if (name == "rcpt_host") {
      return context.recipient->host;
    }
    if (name == "rcpt_mailer") {
      return "smtp";
    }
  }
  return {};
}

upesi::milter::Macros macroValues(const std::vector<std::string>& names,
                                  const MacroContext& context) {
  upesi::milter::Macros macros;
  for (const auto& name : names) {
    auto value = macroValue(name, context);
    if (!value.empty()) {
      macros.emplace_back(name, std::move(value));
    }
  }
  return macros;
}

} // namespace upesi::plugins::milter
