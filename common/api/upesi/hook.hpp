// Every hook point, with the names Haraka gives them (the names appear in config, logs and
// `upesi -o`). Adding a hook is an API change: bump PluginApiVersion.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace upesi {

enum class Hook : int {
  InitMaster,
  InitChild,
  ConnectInit,
  LookupRdns,
  Connect,
  Capabilities,
  UnrecognizedCommand,
  Auth,
  Helo,
  Ehlo,
  Mail,
  Rcpt,
  RcptOk,
  Data,
  DataPost,
  MaxDataExceeded,
  Queue,
  QueueOutbound,
  QueueOk,
  ResetTransaction,
  Deny,
  Vrfy,
  Noop,
  Rset,
  Quit,
  Disconnect,
  PreSendTransEmail,
  SendEmail,
  GetMx,
  Deferred,
  Bounce,
  Delivered,
  InitHttp,
  InitWss,
};

inline constexpr std::size_t HookCount = static_cast<std::size_t>(Hook::InitWss) + 1;

inline constexpr std::array<std::string_view, HookCount> HookNames = {
    "init_master",
    "init_child",
    "connect_init",
    "lookup_rdns",
    "connect",
    "capabilities",
    "unrecognized_command",
    "auth",
    "helo",
    "ehlo",
    "mail",
    "rcpt",
    "rcpt_ok",
    "data",
    "data_post",
    "max_data_exceeded",
    "queue",
    "queue_outbound",
    "queue_ok",
    "reset_transaction",
    "deny",
    "vrfy",
    "noop",
    "rset",
    "quit",
    "disconnect",
    "pre_send_trans_email",
    "send_email",
    "get_mx",
    "deferred",
    "bounce",
    "delivered",
    "init_http",
    "init_wss",
};

constexpr std::string_view toString(Hook hook) {
  return HookNames[static_cast<std::size_t>(hook)];
}

constexpr std::optional<Hook> hookFromString(std::string_view name) {
  for (std::size_t i = 0; i < HookCount; ++i) {
    if (HookNames[i] == name) {
      return static_cast<Hook>(i);
    }
  }
  return std::nullopt;
}

/// Outbound hooks receive the queued item (HMail) instead of a connection.
constexpr bool isOutboundHook(Hook hook) {
  return hook == Hook::SendEmail || hook == Hook::GetMx || hook == Hook::Deferred ||
         hook == Hook::Bounce || hook == Hook::Delivered;
}

} // namespace upesi
