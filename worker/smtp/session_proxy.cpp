// Session: the PROXY protocol. A connection from a proxy that connection.ini [haproxy] hosts[]
// trusts starts with a PROXY header (v1 or v2, told apart per connection) naming the client;
// nothing is said and no hook runs until it has come. From then on the client's address and
// port stand everywhere the proxy's would have (logs, Received, per-IP limits, plugins), and
// what the proxy knows of the connection (its TLVs) is in notes["proxy"].
#include "common/log/escape.hpp"
#include "common/log/logger.hpp"
#include "common/util/text.hpp"
#include "worker/smtp/endpoint_info.hpp"
#include "worker/smtp/session.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>

namespace upesi::smtp {
namespace {

std::string proxyEndpointText(const net::ProxyEndpoint& endpoint) {
  // A v2 header over IPv6 may carry an IPv4 client mapped (::ffff:a.b.c.d): shown as IPv4, as
  // a socket's own address is.
  auto text = endpoint.ipText();
  if (auto ip = util::IpAddress::parse(text); ip && !ip->v6) {
    char v4[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, ip->bytes.data(), v4, sizeof v4);
    return v4;
  }
  return text;
}

// The TLVs a header carried, each only when it did.
void putPresent(nlohmann::json& out, const char* key, const std::optional<std::string>& value) {
  if (value) {
    out[key] = *value;
  }
}

nlohmann::json sslNotes(const net::ProxySsl& ssl) {
  nlohmann::json out = {{"client", ssl.client},
                        {"verify", ssl.verify},
                        {"over_tls", ssl.overTls()},
                        {"client_cert_verified", ssl.clientCertificateVerified()}};
  putPresent(out, "version", ssl.version);
  putPresent(out, "cn", ssl.common_name);
  putPresent(out, "cipher", ssl.cipher);
  putPresent(out, "sig_alg", ssl.signature_algorithm);
  putPresent(out, "key_alg", ssl.key_algorithm);
  return out;
}

nlohmann::json tlvNotes(const net::ProxyTlvs& tlvs) {
  nlohmann::json out = nlohmann::json::object();
  putPresent(out, "alpn", tlvs.alpn);
  putPresent(out, "authority", tlvs.authority);
  putPresent(out, "netns", tlvs.netns);
  putPresent(out, "aws_vpce_id", tlvs.aws_vpc_endpoint_id);
  if (tlvs.unique_id) {
    out["unique_id"] = text::hexLower(*tlvs.unique_id); // opaque bytes
  }
  if (tlvs.ssl) {
    out["ssl"] = sslNotes(*tlvs.ssl);
  }
  for (const auto& other : tlvs.other) {
    out["other"].push_back({{"type", other.type}, {"hex", text::hexLower(other.value)}});
  }
  return out;
}

} // namespace

void Session::awaitProxyHeader() {
  phase_ = Phase::ProxyHeader;
  proxy_parser_ = std::make_unique<net::ProxyHeaderParser>();
  proxy_deadline_.start(static_cast<std::uint64_t>(limits_.proxy_timeout_s) * 1000, [this] {
    log::info({uuid_, ""}, "proxy {} sent no PROXY header within {} s", remote_.ip,
              limits_.proxy_timeout_s);
    proxyRefused(421, "4.4.2", fmt::format("{} PROXY timeout", env_.me));
  });
}

void Session::proxyReceived(std::string_view bytes) {
  const auto step = proxy_parser_->feed(bytes);
  switch (step.status) {
  case net::ProxyParseStatus::NeedMore:
    return;
  case net::ProxyParseStatus::Invalid:
    log::warn({uuid_, ""}, "invalid PROXY header from {}: {}", remote_.ip,
              log::escaped(proxy_parser_->error()));
    proxyRefused(421, "4.7.0", fmt::format("{} Invalid PROXY format", env_.me));
    return;
  case net::ProxyParseStatus::Complete:
    break;
  }
  proxy_deadline_.stop();
  const auto header = proxy_parser_->header();
  proxy_parser_.reset();
  proxyHeaderRead(header, bytes.substr(step.used));
}

void Session::proxyHeaderRead(const net::ProxyHeader& header, std::string_view rest) {
  const Endpoint proxy = remote_;
  nlohmann::json note = {{"type", "haproxy"},
                         {"version", header.version},
                         {"proxy_ip", proxy.ip},
                         {"proxy_port", proxy.port}};
  if (header.hasAddresses()) {
    remote_ = Endpoint{};
    remote_.ip = proxyEndpointText(header.source);
    remote_.port = header.source.port;
    classifyAddress(remote_);
    local_.ip = proxyEndpointText(header.destination);
    local_.port = header.destination.port;
    classifyAddress(local_);
    note["src_ip"] = remote_.ip;
    note["src_port"] = remote_.port;
    note["dst_ip"] = local_.ip;
    note["dst_port"] = local_.port;
    log::info({uuid_, ""}, "proxy {}:{} (PROXY v{}) relays client {}:{} to {}:{}", proxy.ip,
              proxy.port, header.version, remote_.ip, remote_.port, local_.ip, local_.port);
  } else {
    // LOCAL (the proxy's own connection, a health check) or an unknown family: the
    // connection's own addresses stand, as the protocol says.
    note["local"] = header.command == net::ProxyCommand::Local;
    log::info({uuid_, ""}, "proxy {}:{} (PROXY v{}) {}: its own addresses stand", proxy.ip,
              proxy.port, header.version,
              header.command == net::ProxyCommand::Local ? "LOCAL" : "of an unknown family");
  }
  note["tlvs"] = tlvNotes(header.tlvs);
  notes_["proxy"] = std::move(note);
  if (env_.on_client_known && !env_.on_client_known(this, remote_.ip)) {
    log::warn({uuid_, ""},
              "refusing connection from {} (through proxy {}): too many connections "
              "from that address",
              remote_.ip, proxy.ip);
    proxyRefused(
        421, "4.7.0",
        fmt::format("{} Too many connections from your address, try again later", env_.me));
    return;
  }
  beginSession(rest);
}

void Session::proxyRefused(int code, std::string_view enhanced, const std::string& text) {
  // No hook ran: no disconnect hook either. The reply leaves, then the socket closes.
  proxy_deadline_.stop();
  proxy_parser_.reset();
  reply(code, enhanced, {text});
  closeSocket();
}

void Session::cmdProxy() {
  // Haraka answers the same: a PROXY header is honoured only from connection.ini's hosts.
  log::warn({logUuid(), ""}, "PROXY header from {}, which is not a trusted proxy", remote_.ip);
  reply(421, "4.7.0", {fmt::format("{} PROXY not allowed from {}", env_.me, remote_.ip)});
  startClose();
}

} // namespace upesi::smtp
