// Session: STARTTLS (RFC 3207) and implicit TLS. The core does the upgrade so that plugin order
// can never break it; the tls plugin decides who is offered STARTTLS (capabilities hook).
#include "common/log/escape.hpp"
#include "common/log/logger.hpp"
#include "common/tls/handshake_metrics.hpp"
#include "common/tls/tls_context.hpp"
#include "common/tls/tls_stream.hpp"
#include "worker/smtp/session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <strings.h>

namespace upesi::smtp {

bool Session::implicitTls() const {
  return tls_context_ != nullptr && env_.smtps_port != 0 && listener_port_ == env_.smtps_port;
}

bool Session::starttlsOffered() const {
  return tls_context_ != nullptr && transport_->tls() == nullptr &&
         std::any_of(capabilities_.begin(), capabilities_.end(),
                     [](const std::string& c) { return strcasecmp(c.c_str(), "STARTTLS") == 0; });
}

void Session::cmdStartTls(std::string_view argument) {
  if (!argument.empty()) {
    refuse(501, "5.5.4", {"Syntax error (no parameters allowed)"});
    return;
  }
  if (txn_) {
    refuse(503, "5.5.1", {"Error: MAIL transaction in progress"});
    return;
  }
  reply(220, "2.0.0", {"Go ahead."});
  // RFC 3207 section 6 (CVE-2011-0411): whatever came with or after STARTTLS, before the
  // handshake, was not protected by it. It is dropped, never read as commands inside TLS.
  if (std::size_t leftover = in_.size() - in_pos_; leftover > 0) {
    log::warn({logUuid(), ""}, "discarding {} bytes sent after STARTTLS before the handshake",
              leftover);
    in_pos_ = in_.size();
  }
  flush(); // the 220 goes out in clear before anything of TLS
  startTlsHandshake(false);
}

void Session::startTlsHandshake(bool implicit, std::string_view ciphertext) {
  auto channel = tls::TlsChannel::server(tls_context_->context());
  if (!channel) {
    log::error({logUuid(), ""}, "cannot start TLS: {}", channel.error());
    peerGone("TLS unavailable");
    return;
  }
  busy_ = true; // no command is read until the handshake is done
  tls_implicit_ = implicit;
  // transportSecured() or transportGone() follow
  transport_->startTls(std::move(*channel), ciphertext);
}

const TlsInfo& Session::tlsInfo() const {
  static const TlsInfo plain;
  return tls_info_ ? *tls_info_ : plain;
}

void Session::tlsEstablished(bool implicit) {
  auto d = transport_->tls()->details();
  tls::countHandshake(d.version);
  tls_info_ = std::make_unique<TlsInfo>(TlsInfo{.enabled = true,
                                                .verified = d.verified,
                                                .version = d.version,
                                                .cipher = d.cipher,
                                                .cipher_bits = d.cipher_bits,
                                                .server_name = d.server_name,
                                                .peer_certificate = d.peer_certificate,
                                                .verify_error = d.verify_error,
                                                .peer_subject = d.peer_subject,
                                                .peer_issuer = d.peer_issuer,
                                                .peer_fingerprint = d.peer_fingerprint});
  log::info({logUuid(), ""}, "secured: version={} cipher={} sni=\"{}\" verified={}{}", d.version,
            d.cipher, log::escaped(d.server_name), d.verified ? "true" : "false",
            d.peer_certificate ? fmt::format(" peer=\"{}\"", log::escaped(d.peer_subject)) : "");
  const auto& required = tls_context_->settings().require_authorized_ports;
  if (std::find(required.begin(), required.end(), listener_port_) != required.end() &&
      !d.verified) {
    log::notice({logUuid(), ""}, "no verified client certificate on port {}: {}", listener_port_,
                d.peer_certificate ? d.verify_error : "none presented");
    peerGone("client certificate required");
    return;
  }
  busy_ = false;
  if (implicit) {
    runHook(Hook::ConnectInit, {}, [this](HookResult) { connectInitDone(); });
    return;
  }
  // RFC 3207 section 4.2: forget what the client said in clear; it must say EHLO again.
  hello_verb_.clear();
  hello_host_.clear();
  esmtp_ = false;
  capabilities_.clear();
  hookFinished(); // anything the client sent inside TLS already
}

} // namespace upesi::smtp
