// smtp.ini: listeners and the process model, read and validated once. Every error names the
// file and line of the offending key. A new key is also listed in known_keys.cpp (--check).
#pragma once

#include "common/config/config.hpp"
#include "common/config/proxy_config.hpp"
#include "common/util/result.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace upesi::config {

struct ListenAddress {
  std::string host; // numeric IPv4 or IPv6 (without brackets)
  std::uint16_t port = 25;
  bool ipv6 = false;
  std::string toString() const;
  bool operator==(const ListenAddress&) const = default;
};

/// Parses one entry of `listen`: "1.2.3.4:25", "[::1]:2525", "[::0]:25", "2525" (all IPv6 and
/// IPv4 addresses, as "[::0]"), or an address without a port (port 25).
Result<ListenAddress> parseListenAddress(std::string_view text);
/// A comma-separated list of those (empty items skipped).
Result<std::vector<ListenAddress>> parseListenList(std::string_view text);

/// Per-session limits. Each is a smtp.ini [main] key of the same name.
struct SessionLimits {
  int inactivity_timeout_s = 300;            // silence between commands -> 421
  int data_timeout_s = 600;                  // silence inside DATA -> 421 (RFC 5321 4.5.3.2.6)
  int proxy_timeout_s = 30;                  // a trusted proxy's PROXY header -> 421 (Haraka's 30)
  std::size_t max_line_length = 512;         // command line incl. CRLF -> 500, then close
  std::size_t max_data_line_length = 1000;   // DATA line incl. CRLF (RFC 5321 4.5.3.1.6)
  bool fold_long_data_lines = false;         // true: fold as Haraka; false: refuse with 550 5.5.2
  bool normalise_bare_line_endings = false;  // false: bare CR/LF in DATA -> 451 and close
  bool allow_nul_in_data = false;            // false: a NUL byte in the message -> 554 5.6.0
  std::uint64_t max_message_size = 26214400; // SIZE; larger -> 552
  unsigned max_recipients = 1000;            // per transaction -> 452
  unsigned max_unrecognized_commands = 10;   // -> 521 and close
  unsigned max_errors = 20;                  // 4xx/5xx replies per connection -> 421 and close
  unsigned max_connections = 10000;          // per process -> 421 at connect
  unsigned max_connections_per_ip = 100;     // per process -> 421 at connect
  unsigned max_received_headers = 100;       // mail loop -> 554 5.4.6
  std::int64_t spool_after = 1048576;        // message bytes kept in memory before spilling
  std::string spool_dir;                     // empty: <install>/spool
  bool auth_requires_tls = true;             // AUTH offered only inside TLS
  unsigned max_auth_failures = 3;            // per connection, then 421 and close
  unsigned max_auth_failures_per_ip = 10;    // per process within auth_failure_window -> 454
  int auth_failure_window_s = 600;
  int auth_failure_delay_s = 1; // the nth failure waits delay * 2^(n-1) s, max 16x
  // Clients that hold resources without making progress.
  std::size_t max_output_buffer = 65536; // unread replies past which reading and commands pause
  int write_timeout_s = 60;     // output stuck past max_output_buffer (or at close) -> dropped
  int command_timeout_s = 60;   // one command line, first byte to line end -> 421
  int max_data_time_s = 3600;   // the whole DATA (or BDAT) phase -> 421
  unsigned min_data_rate = 256; // bytes/s the message must arrive at, per window -> 421
  int min_data_rate_window_s = 30;
  unsigned ipv6_client_prefix = 64; // per-IP limits count an IPv6 client by its /N network
  // Not a limit, but read with them: the MT-PRIORITY policy advertised (RFC 6710: MIXER,
  // STANAG4406, NSEP); empty: MT-PRIORITY is not offered, and the parameter gets 555.
  std::string mt_priority;
};

/// What the server says where the words are its own (Haraka's connection.ini [message]).
struct SessionTexts {
  std::vector<std::string> greeting;                      // 220 lines; empty: "Upesi ready"
  std::string helo_message = "Upesi is at your service."; // after "<me> Hello <client>, "
  std::string close_message = "closing connection. Have a jolly good day."; // 221 after <me>
};

struct SmtpConfig {
  std::vector<ListenAddress> listen;
  int nodes = 1; // 0: serve in the master
  // libuv's thread pool per serving process (UV_THREADPOOL_SIZE): the queue files' writes and
  // fsyncs run there, so it bounds the messages made durable at once.
  int thread_pool_size = 32;
  std::string user;
  std::string group;
  int force_shutdown_timeout_s = 30;
  std::string pid_file;     // empty: <install>/upesi.pid
  std::string state_dir;    // what outbound keeps (mta-sts/, tls-rpt/); empty: <install>
  std::string maildrop_dir; // what `sendmail` leaves for the server; empty: <install>/maildrop
  std::uint16_t smtps_port = 465; // implicit TLS on listeners with this port; 0: none
  std::vector<std::uint16_t> submission_ports{587, 465}; // MAIL needs AUTH (or relaying) here
  SessionLimits limits;
  SessionTexts texts;
  ProxyTrust proxy; // connection.ini [haproxy]: who may send a PROXY header
};

/// The booleans of smtp.ini, as every reader of the file must declare them.
inline const ReadOptions SmtpIniBooleans{{"-main.fold_long_data_lines",
                                          "-main.normalise_bare_line_endings",
                                          "-main.allow_nul_in_data", "+main.auth_requires_tls"}};

/// Reads smtp.ini, with Haraka's connection.ini keys standing in for those it lacks
/// (haraka_aliases.hpp); an error in such a value names its place in connection.ini.
Result<SmtpConfig> readSmtpConfig(Config& config);

} // namespace upesi::config
