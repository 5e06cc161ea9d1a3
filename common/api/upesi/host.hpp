// Host: what the server offers a plugin — its config files, logging with the plugin's name, and
// the install's directories. One Host per plugin instance, valid until the plugin's shutdown().
//
// Config values are JSON values (nlohmann/json, header-only), the same representation Haraka's
// config.get returns: ini as {section: {key: value}}, list as an array of strings, value as a
// string or number.
#pragma once

#include <upesi/address.hpp>
#include <upesi/code.hpp>
#include <upesi/dns.hpp>
#include <upesi/log_level.hpp>
#include <upesi/outbound.hpp>
#include <upesi/redis.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace upesi {

class Connection;

/// Haraka's send_email options.
struct SendEmailOptions {
  bool dot_stuffed = false;                        ///< the contents are already dot-stuffed
  nlohmann::json notes = nlohmann::json::object(); ///< the new transaction's notes (todo.notes)
};

class Host {
public:
  virtual ~Host() = default;

  /// The plugin's name as listed in config/plugins.
  virtual const std::string& pluginName() const = 0;

  /// Reads config/<name> as `type`: value, list, data, ini, json, yaml or binary. Beneath the
  /// install's file lie, highest first: the plugin's own defaults (plugins/<plugin>/config/<name>
  /// beside plugins/<plugin>.so), the base plugin's config (see inherits), and the shipped
  /// defaults; ini, json and yaml merge key by key, other types take the highest file. A broken
  /// file is logged and reads as empty.
  virtual nlohmann::json config(const std::string& name, std::string_view type = "value",
                                const std::vector<std::string>& booleans = {}) = 0;

  /// Haraka's inherits(): this plugin builds on plugin `base`. Its code is shared the C++ way
  /// (derive from the base's class and call its registerHooks); its config here: afterwards a
  /// file named after this plugin ("<plugin>.ini") reads the base's ("<base>.ini", with the
  /// base's own defaults) beneath it. Call it in registerHooks before reading config.
  virtual void inherits(const std::string& base) = 0;

  /// Calls `callback` after config/<name> changed on disk and re-read cleanly.
  virtual void onConfigChange(const std::string& name, std::function<void()> callback) = 0;

  /// Logs with the plugin's name and, when given, the connection's or transaction's uuid.
  virtual void log(LogLevel level, std::string_view message,
                   const Connection* connection = nullptr) = 0;

  /// The install directory given with -c.
  virtual const std::filesystem::path& installDir() const = 0;

  /// This server's name (config/me, else the host name).
  virtual const std::string& me() const = 0;

  /// Notes shared by every connection of this process (Haraka's server.notes).
  virtual nlohmann::json& serverNotes() = 0;

  // Asynchronous work. Everything a hook starts must finish through the loop: nothing may block
  // it. Callbacks run on the loop thread.

  /// Calls `fn` once after `ms` milliseconds. Returns an id for clearTimeout.
  virtual std::uint64_t setTimeout(std::uint64_t ms, std::function<void()> fn) = 0;
  virtual void clearTimeout(std::uint64_t id) = 0;

  /// Runs `work` on the thread pool (file I/O, fsync, CPU-heavy checks), then `done` on the loop.
  virtual void runInThreadPool(std::function<void()> work, std::function<void()> done) = 0;

  /// Looks `name` up (c-ares on the loop); `callback` runs on the loop, always, once.
  virtual void dnsQuery(const std::string& name, DnsType type, DnsCallback callback) = 0;
  /// The host name of an IP address (/etc/hosts, then PTR).
  virtual void dnsReverse(const std::string& ip, DnsCallback callback) = 0;

  /// Queues a new message for outbound delivery (Haraka's outbound.send_email): `contents` is
  /// the whole message (header and body; LF or CRLF line ends). As for relayed mail, a
  /// Message-Id and a Date are added when missing, our Received header is put first, and
  /// pre_send_trans_email runs (its connection's transaction() is the new message) before the
  /// queue file is written. `done` runs on the loop once the message is queued (true and
  /// "Message Queued (uuid)") or not (false and the reason): queued, not delivered — the
  /// delivered and bounce hooks tell the rest.
  virtual void sendEmail(const Address& from, const std::vector<Address>& to, std::string contents,
                         std::function<void(bool queued, const std::string& text)> done,
                         const SendEmailOptions& options = {}) = 0;

  /// The same with Haraka's callback, next(code, msg): OK and the queue reply, or DENY and the
  /// reason. `done` may be left out, as in Haraka.
  void sendEmail(const Address& from, const std::vector<Address>& to, std::string contents,
                 std::function<void(Code code, const std::string& message)> done = {},
                 const SendEmailOptions& options = {}) {
    sendEmail(
        from, to, std::move(contents),
        [done = std::move(done)](bool queued, const std::string& text) {
          if (done) {
            done(queued ? Code::Ok : Code::Deny, text);
          }
        },
        options);
  }

  /// The process's libuv loop (a uv_loop_t*), for plugins that use libuv directly; null in the
  /// master, which runs no loop.
  virtual void* uvLoop() = 0;

  // Added in the same API version, last, so the slots above keep their place.

  /// This process's outbound queue and delivery counters (Haraka's outbound.get_stats()); all
  /// zero where no outbound queue runs (the master).
  virtual OutboundStats outboundStats() { return {}; }

  // API version 6.

  /// The process's Redis client (redis.hpp), started on first use; null where there is no
  /// loop (the master) or redis.ini does not parse (logged once). Plugins keep state that
  /// several nodes share there.
  virtual Redis* redis() { return nullptr; }
};

} // namespace upesi
