#include "common/config/known_keys.hpp"

namespace upesi::config {
namespace {

using Keys = std::vector<std::string_view>;

Keys operator+(Keys a, const Keys& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// tls.ini: what [main] and [outbound] share (common/tls/tls_config.cpp readSide).
const Keys TlsSideKeys = {
    "key",          "cert",       "dhparam",          "ca",          "ciphers",
    "ciphersuites", "minVersion", "honorCipherOrder", "requestCert", "rejectUnauthorized"};

// smtp_forward.ini and lmtp.ini: [main] and each per-domain section
// (plugins/support/forward_config.cpp).
const Keys ForwardRouteKeys = {"host", "port", "enable_outbound", "connect_timeout",
                               "command_timeout"};

// spf.ini: [deny]/[deny_relay] and [defer]/[defer_relay] (plugins/spf/plugin.cpp).
const Keys SpfDenyKeys = {"helo_none",      "helo_softfail",   "helo_fail",
                          "helo_permerror", "mfrom_none",      "mfrom_softfail",
                          "mfrom_fail",     "mfrom_permerror", "openspf_text"};
const Keys SpfDeferKeys = {"helo_temperror", "mfrom_temperror"};

// spamassassin.ini and clamd.ini [check] (plugins/support/scanner_checks.hpp).
const Keys ScannerCheckKeys = {"authenticated", "private_ip", "local_ip", "relay"};

// helo.checks.ini: the checks with a [check] and a [reject] flag (plugins/helo.checks).
const Keys HeloCheckKeys = {"match_re",       "bare_ip",     "dynamic",    "big_company",
                            "valid_hostname", "forward_dns", "rdns_match", "host_mismatch"};
// headers.ini and data.headers.ini (plugins/headers/headers_plugin.cpp).
const Keys HeadersMainKeys = {"required", "singular", "date_future_days", "date_past_days",
                              "public_suffix_list"};
const Keys HeadersCheckKeys = {
    "duplicate_singular", "missing_required", "invalid_return_path", "invalid_date", "user_agent",
    "direct_to_mx",       "from_match",       "delivered_to",        "mailing_list", "from_phish"};

// milter.ini: [main] gives every filter's defaults, each filter's section may override them
// (plugins/milter/milter_config.cpp).
const Keys MilterFilterKeys = {"connect_timeout", "command_timeout", "content_timeout",
                               "default_action",  "protocol",        "connect_macros",
                               "helo_macros",     "mail_macros",     "rcpt_macros",
                               "data_macros",     "eoh_macros",      "eom_macros"};

// redis.ini: what [server], [pubsub] and [opts] share (common/redis/redis_config.cpp).
const Keys RedisEndpointKeys = {"host", "ip",       "port",     "path",
                                "db",   "database", "username", "password"};
const Keys RedisClientKeys = {"connect_timeout_ms", "command_timeout_ms", "max_pending",
                              "max_reply_bytes"};

const std::vector<KnownIniFile> Files = {
    {"smtp.ini",
     {{"main",
       {"listen",
        "nodes",
        "user",
        "group",
        "pid_file",
        "state_dir",
        "maildrop_dir",
        "force_shutdown_timeout",
        "smtps_port",
        "submission_ports",
        "inactivity_timeout",
        "data_timeout",
        "proxy_timeout",
        "max_line_length",
        "max_data_line_length",
        "fold_long_data_lines",
        "normalise_bare_line_endings",
        "allow_nul_in_data",
        "max_message_size",
        "max_recipients",
        "max_unrecognized_commands",
        "max_errors",
        "max_connections",
        "max_connections_per_ip",
        "max_received_headers",
        "spool_after",
        "spool_dir",
        "auth_requires_tls",
        "max_auth_failures",
        "max_auth_failures_per_ip",
        "auth_failure_window",
        "auth_failure_delay",
        "max_output_buffer",
        "write_timeout",
        "command_timeout",
        "max_data_time",
        "min_data_rate",
        "min_data_rate_window",
        "ipv6_client_prefix",
        "greeting",
        "helo_message",
        "close_message",
        "mt_priority"}}}},
    // Haraka's, read as aliases of smtp.ini keys or ignored with a notice (haraka_aliases.cpp).
    {"connection.ini",
     {{"main", {"spool_dir", "spool_after", "strict_rfc1869", "smtputf8", "postel"}},
      {"haproxy", {"enabled", "hosts"}},
      {"headers",
       {"add_received", "clean_auth_results", "show_version", "max_lines", "max_received"}},
      {"max", {"bytes", "line_length", "data_line_length", "mime_parts"}},
      {"message", {"greeting", "helo", "close"}},
      {"uuid", {"banner_chars", "deny_chars"}}}},
    {"outbound.ini", {{"main", {"disabled",
                                "enable_tls",
                                "concurrency_max",
                                "destination_concurrency_max",
                                "always_split",
                                "ipv6_enabled",
                                "local_mx_ok",
                                "deliver_host_list_locally",
                                "received_header",
                                "maxTempFailures",
                                "temp_fail_intervals",
                                "connect_timeout",
                                "greeting_timeout",
                                "pool_timeout",
                                "pool_concurrency_max",
                                "pool_linger",
                                "scheduled_max",
                                "pipeline_messages",
                                "scan_interval",
                                "bounce_size_limit"}}}},
    {"tls.ini",
     {{"main", TlsSideKeys + Keys{"requireAuthorized", "no_starttls_ports"}},
      {"outbound", TlsSideKeys + Keys{"force_tls_hosts", "no_tls_hosts", "fallback_to_plain",
                                      "dane", "mta_sts", "tls_rpt", "tls_rpt_from"}},
      {"no_tls_hosts", {}, true},
      {"outbound.policy", {}, true}}},
    {"http.ini",
     {{"main",
       {"listen", "allow", "token", "tls", "metrics", "max_connections", "max_target",
        "max_header_bytes", "max_headers", "max_body", "request_timeout", "idle_timeout",
        "max_requests", "max_output", "write_timeout", "websocket_max_message"}}}},
    {"watch.ini", {{"main", {"sampling", "ignore"}}}},
    {"limit.ini",
     {{"main", {"tarpit_delay"}},
      {"concurrency", {"enabled", "max", "lease"}},
      {"recipients", {"enabled", "max", "max_relaying"}},
      {"unrecognized_commands", {"enabled", "max"}},
      {"errors", {"enabled", "max"}},
      {"concurrency_history", {"enabled", "plugin", "good", "bad", "none"}},
      {"recipients_history", {"enabled", "plugin", "good", "bad", "none"}},
      {"rate_conn_history", {"enabled", "plugin", "good", "bad", "none"}},
      {"rate_conn", {}, true},
      {"rate_rcpt_host", {}, true},
      {"rate_rcpt_sender", {}, true},
      {"rate_rcpt", {}, true},
      {"rate_rcpt_null", {}, true},
      {"outbound", {}, true},
      {"rate_outbound", {}, true}}},
    {"greylist.ini",
     {{"main", {"text", "spf_domain", "fail_open"}},
      {"period", {"black", "grey", "white"}},
      {"skip", {"private_ip"}},
      {"ip_whitelist", {}, true},
      {"envelope_whitelist", {}, true},
      {"recipient_whitelist", {}, true},
      {"special_dynamic_domains", {}, true}}},
    {"karma.ini",
     {{"main", {"expire_days"}},
      {"redis", {"expire_days"}},
      {"thresholds", {"negative", "positive", "history_negative"}},
      {"deny", {"hooks", "message"}},
      {"tarpit", {"delay", "max", "max_msa"}},
      {"skip", {"private_ip", "authenticated"}},
      {"awards", {"relaying", "early_talker"}},
      {"tls", {"set", "unset"}},
      {"deny_excludes", {"plugins", "hooks"}},
      {"asn", {"enable", "report_as"}},
      {"asn_awards", {}, true},
      {"spammy_tlds", {}, true},
      {"result_awards", {}, true}}},
    {"log.ini", {{"main", {"level", "timestamps", "format", "file"}}}},
    {"dns.ini",
     {{"main",
       {"servers", "validating", "timeout_ms", "tries", "cache_size", "cache_max_ttl",
        "cache_negative_ttl"}}}},
    {"relay.ini", {{"relay", {"acl", "dest_domains", "all", "force_routing"}}}},
    {"relay_dest_domains.ini", {{"domains", {}, true}}},
    {"rcpt_to.in_host_list.ini", {{"main", {"mailboxes"}}}},
    {"auth_proxy.ini", {{"main", {"reject_unauthorized", "ca_file"}}, {"domains", {}, true}}},
    {"queue.maildir.ini", {{"main", {"path"}}}},
    {"tarpit.ini", {{"main", {"hooks_to_delay"}}}},
    {"smtp_forward.ini",
     {{"main", ForwardRouteKeys + Keys{"domain_selector"}}, {"*", ForwardRouteKeys}}},
    {"lmtp.ini", {{"main", ForwardRouteKeys + Keys{"domain_selector"}}, {"*", ForwardRouteKeys}}},
    {"spf.ini",
     {{"main", {"lookup_timeout"}},
      {"relay", {"context", "public_ip"}},
      {"skip", {"relaying", "auth", "private_ip"}},
      {"defer", SpfDeferKeys},
      {"defer_relay", SpfDeferKeys},
      {"deny", SpfDenyKeys},
      {"deny_relay", SpfDenyKeys}}},
    {"dns-list.ini",
     {{"main",
       {"zones", "search", "periodic_checks", "lookup_timeout", "defer_on_error", "reject_at",
        "cache_max_entries", "cache_max_ttl", "cache_unlisted_ttl"}},
      {"skip", {"relaying", "auth", "private_ip"}},
      {"weighted", {"sites", "threshold", "allow_threshold", "action"}},
      {"stats", {"enable", "redis_host"}},
      // a zone's section: type, reject, ipv6, loopback_is_rejected, ok_helo, ok_mail, enable
      // and answer addresses with their meaning
      {"*", {}, true}}},
    {"access.ini",
     {{"main", {"max_list_entries", "public_suffix_list"}},
      {"check", {"any", "conn", "helo", "mail", "rcpt"}},
      {"deny_msg", {"conn", "helo", "mail", "rcpt"}},
      {"rcpt", {"accept"}}}},
    // The plugins access replaced: their deny_msg still counts.
    {"connect.rdns_access.ini", {{"general", {"deny_msg"}}}},
    {"mail_from.access.ini", {{"general", {"deny_msg"}}}},
    {"rcpt_to.access.ini", {{"general", {"deny_msg"}}}},
    {"mail_from.is_resolvable.ini",
     {{"main",
       {"allow_mx_ip", "re_bogus_ip", "timeout_ms", "timeout", "max_mx_hosts", "reject_no_mx"}},
      {"reject", {"no_mx"}},
      {"skip", {"relaying", "auth", "private_ip"}}}},
    {"rspamd.ini",
     {{"main",
       {"host", "port", "scheme", "path", "unix_socket", "add_headers", "always_add_headers",
        "timeout", "subject", "max_size"}},
      {"tls", {"reject_unauthorized", "servername", "ca_file", "cert_file", "key_file"}},
      {"auth", {"basic_user", "basic_pass", "header", "value", "value_env"}},
      {"request",
       {"settings_id", "settings", "flags", "body_block", "ext_urls", "groups", "milter", "no_log",
        "profile", "skip", "skip_process", "zstd", "pass_all", "raw", "url_format"}},
      {"request_headers", {}, true},
      {"dkim", {"enabled"}},
      {"header", {"bar", "report", "score"}},
      {"check", {"authenticated", "relay", "private_ip", "local_ip"}},
      {"reject", {"message", "authenticated", "spam"}},
      {"soft_reject", {"enabled", "message"}},
      {"smtp_message", {"enabled"}},
      {"rewrite_subject", {"enabled"}},
      {"rmilter_headers", {"enabled"}},
      {"defer", {"error", "timeout"}},
      {"spambar", {"positive", "negative", "neutral"}}}},
    {"redis.ini",
     {{"server", RedisEndpointKeys + RedisClientKeys},
      {"opts", RedisEndpointKeys + RedisClientKeys},
      {"pubsub", RedisEndpointKeys}}},
    {"milter.ini",
     {{"main", MilterFilterKeys + Keys{"milters"}}, {"*", MilterFilterKeys + Keys{"socket"}}}},
    {"dkim.ini",
     {{"main", {}},
      {"sign",
       {"enabled", "headers", "oversign", "canonicalization", "expire", "domain", "selector",
        "min_key_bits"}},
      {"verify", {"enabled", "timeout", "allowed_time_skew", "body_length", "min_key_bits"}}}},
    {"bounce.ini",
     {{"main", {"lookup_timeout", "max_received_ips"}},
      {"validation", {"max_hash_age_days", "hash_algorithm", "secret"}},
      {"check",
       {"single_recipient", "empty_return_path", "bounce_spf", "hash_validation", "hash_date",
        "reject_all"}},
      {"reject",
       {"single_recipient", "empty_return_path", "bounce_spf", "bad_rcpt", "all_bounces",
        "hash_validation", "hash_date"}},
      {"skip", {"remaining_plugins"}}}},
    {"headers.ini",
     {{"main", HeadersMainKeys},
      {"check", HeadersCheckKeys},
      {"reject", HeadersCheckKeys},
      {"phish_targets", {}, true},
      {"phish_domains", {}, true}}},
    {"data.headers.ini",
     {{"main", HeadersMainKeys},
      {"check", HeadersCheckKeys},
      {"reject", HeadersCheckKeys},
      {"phish_targets", {}, true}}},
    {"dmarc.ini",
     {{"main", {"public_suffix_list", "lookup_timeout"}},
      {"reject", {"action"}},
      {"quarantine", {"action", "header", "note"}},
      {"reporting", {"enabled", "directory"}},
      {"skip", {"relaying", "auth"}}}},
    {"fcrdns.ini",
     {{"main", {"timeout", "max_ptr_names", "max_addresses", "public_suffix_list"}},
      {"reject", {"no_rdns", "no_fcrdns", "invalid_tld", "generic_rdns"}},
      {"skip", {"private_ip"}}}},
    {"helo.checks.ini",
     {{"main",
       {"dns_timeout", "public_suffix_list", "max_addresses", "check_no_dot", "check_dynamic",
        "check_raw_ip"}},
      {"check", HeloCheckKeys + Keys{"proto_mismatch", "literal_mismatch", "mismatch"}},
      {"reject", HeloCheckKeys + Keys{"proto_mismatch", "literal_mismatch", "mismatch"}},
      {"skip", {"private_ip", "relaying", "whitelist", "tlds"}},
      {"bigco", {}, true}}},
    {"spamassassin.ini",
     {{"main",
       {"spamd_socket", "spamd_user", "max_size", "munge_subject_threshold", "subject_prefix",
        "old_headers_action", "modern_status_syntax", "reject_threshold", "relay_reject_threshold",
        "connect_timeout", "results_timeout", "add_headers", "spamc_auth_header"}},
      {"check", ScannerCheckKeys},
      {"defer", {"error", "connect_timeout", "scan_timeout"}}}},
    {"clamd.ini",
     {{"main",
       {"clamd_socket", "randomize_host_order", "only_with_attachments", "only_with_attachment",
        "timeout", "connect_timeout", "max_size"}},
      {"reject",
       {"virus", "error", "Broken.Executable", "Structured", "Encrypted", "PUA", "OLE2",
        "Safebrowsing", "UNOFFICIAL", "Phishing"}},
      {"check", ScannerCheckKeys}}},
};

} // namespace

const std::vector<KnownIniFile>& knownIniFiles() {
  return Files;
}

const KnownIniFile* knownIniFile(std::string_view name) {
  for (const auto& file : Files) {
    if (file.name == name) {
      return &file;
    }
  }
  return nullptr;
}

} // namespace upesi::config
