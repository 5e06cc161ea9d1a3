// A plugin for tests, loaded from a shared object: it answers hooks as its config says.
//
// config/<name>.ini, one section per hook:
//   [rcpt]
//   code=DENY            CONT OK DENY DENYSOFT DENYDISCONNECT DENYSOFTDISCONNECT DISCONNECT
//                        HOOK_NEXT STOP
//   msg=go away          the message (msg[]= for several lines)
//   mode=inline          inline | async (after delay_ms) | never | throw | twice
//   delay_ms=10
//   priority=0
//   match=<text>         only when the hook's address, host or (get_mx) domain contains it
//                        (else CONT)
//   relay=true           set connection relaying before answering
//   save=/dir            (queue hooks) write the message to /dir/<transaction uuid>.eml first
//   note=key:value       (mail, rcpt) set transaction.notes[key] to value (JSON if it parses,
//                        else the text)
//   connection_note=key:value  set connection.notes[key] to that text (rdns_access:white)
//   result=key:value     add {key: value} (JSON if it parses, else the text) to the connection's
//                        results under this plugin's name (asn:64496, as an asn plugin would)
//   item_note=key:value  (outbound hooks) set the hmail's own notes[key] to value (text)
//   claim=XFOO           (mail, rcpt) claim this ESMTP parameter (several: claim[]=); the
//                        note claimed_<KEYWORD>=<value> records what the hook was given
//   header=Name: value   (hooks with a transaction) add that header field, as a signing plugin
//                        would in pre_send_trans_email
//   banner=text          (data) set the transaction's banner (banner_html= its HTML form;
//                        "\n" in either stands for a line break)
//   send_to=user@host    queue a new message with Host::sendEmail (from robot@plugin.example);
//                        send_notes=<JSON> gives it notes, send_dot_stuffed=true says the text
//                        is dot-stuffed; the result is recorded as "send_email <CODE> <pid> <text>"
//   [main]
//   inherits=base        read base.ini (and base's own defaults) beneath this plugin's ini
//   record=/path/file    append "<plugin> <hook> <pid>" to this file for every call, and
//                        "<plugin> shutdown <pid>" when the plugin is shut down; the outbound
//                        hooks (send_email, get_mx, deferred, bounce, delivered) add a fourth
//                        field, their facts as compact JSON (uuid, attempts, notes, path,
//                        queue_time, item_notes, and the hook's own); pre_send_trans_email adds its
//                        transaction's (uuid, mail_from, rcpts, notes, and its Message-Id, Date,
//                        Received, Subject headers); hooks given a command verb
//                        (unrecognized_command, and a hook it names with HOOK_NEXT) add {verb,
//                        argument, address}; connect adds the connection's ends and notes
//                        {remote_ip, remote_port, local_ip, local_port, notes}
#include <upesi/connection.hpp>
#include <upesi/host.hpp>
#include <upesi/next.hpp>
#include <upesi/outbound.hpp>
#include <upesi/plugin.hpp>

#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <utility>

namespace {

/// "key:value" -> (key, value parsed as JSON, or the text when it is not JSON).
std::pair<std::string, nlohmann::json> keyAndValue(const std::string& spec) {
  const auto colon = spec.find(':');
  std::string text = colon == std::string::npos ? "" : spec.substr(colon + 1);
  auto value = nlohmann::json::parse(text, nullptr, false);
  return {spec.substr(0, colon), value.is_discarded() ? nlohmann::json(text) : value};
}

upesi::Code codeFromName(const std::string& name) {
  static const std::map<std::string, upesi::Code> codes = {
      {"CONT", upesi::Code::Cont},
      {"OK", upesi::Code::Ok},
      {"DENY", upesi::Code::Deny},
      {"DENYSOFT", upesi::Code::DenySoft},
      {"DENYDISCONNECT", upesi::Code::DenyDisconnect},
      {"DENYSOFTDISCONNECT", upesi::Code::DenySoftDisconnect},
      {"DISCONNECT", upesi::Code::Disconnect},
      {"HOOK_NEXT", upesi::Code::HookNext},
      {"STOP", upesi::Code::Stop},
      {"DELAY", upesi::Code::Delay},
  };
  auto it = codes.find(name);
  if (it == codes.end()) {
    throw std::runtime_error("unknown code " + name);
  }
  return it->second;
}

nlohmann::json addresses(const std::vector<upesi::Address>& list) {
  auto out = nlohmann::json::array();
  for (const auto& a : list) {
    out.push_back(a.address());
  }
  return out;
}

/// What an outbound hook was told, for the record file.
nlohmann::json outboundFacts(upesi::Hook hook, const upesi::HookParams& params) {
  nlohmann::json facts = nlohmann::json::object();
  upesi::HMail& hmail = *params.hmail;
  facts["uuid"] = hmail.uuid();
  facts["attempts"] = hmail.attempts();
  facts["notes"] = hmail.notes();
  facts["path"] = hmail.path();
  facts["queue_time"] = hmail.queueTime();
  facts["item_notes"] = hmail.itemNotes();
  if (hook == upesi::Hook::GetMx) {
    facts["domain"] = std::string(params.domain);
  }
  if (const auto* d = params.deferred) {
    facts["delay"] = d->delay_s;
    facts["error"] = d->error;
    facts["fail_recips"] = addresses(d->fail_recips);
    facts["mx"] = d->mx;
  }
  if (const auto* b = params.bounce) {
    facts["error"] = b->error;
    facts["bounced"] = addresses(b->bounced_rcpt);
    facts["deferred_rcpt"] = addresses(b->deferred_rcpt);
    facts["mx"] = b->mx;
  }
  if (const auto* d = params.delivered) {
    facts["host"] = d->host;
    facts["ip"] = d->ip;
    facts["port"] = d->port;
    facts["mode"] = d->mode;
    facts["response"] = d->response;
    facts["ok_recips"] = addresses(d->ok_recips);
    facts["delay"] = d->delay_s;
  }
  return facts;
}

/// What a hook run for an unrecognized command (or by HOOK_NEXT from one) was told.
nlohmann::json commandFacts(const upesi::HookParams& params) {
  nlohmann::json facts = nlohmann::json::object();
  facts["verb"] = std::string(params.verb);
  facts["argument"] = std::string(params.argument);
  if (params.address != nullptr) {
    facts["address"] = params.address->address();
  }
  return facts;
}

/// Who connect sees: both ends and the connection's notes (a PROXY header's are there).
nlohmann::json connectionFacts(upesi::Connection& connection) {
  nlohmann::json facts = nlohmann::json::object();
  facts["remote_ip"] = connection.remote().ip;
  facts["remote_port"] = connection.remote().port;
  facts["local_ip"] = connection.local().ip;
  facts["local_port"] = connection.local().port;
  facts["notes"] = connection.notes();
  return facts;
}

/// What pre_send_trans_email was given, for the record file.
nlohmann::json transactionFacts(upesi::Transaction& txn) {
  nlohmann::json facts = nlohmann::json::object();
  facts["uuid"] = txn.uuid();
  facts["mail_from"] = txn.mailFrom().address();
  facts["rcpts"] = addresses(txn.rcptTo());
  facts["notes"] = txn.notes();
  for (const char* name : {"Message-Id", "Date", "Received", "Subject"}) {
    facts[name] = txn.headers(name);
  }
  return facts;
}

class Scripted final : public upesi::Plugin {
public:
  void registerHooks(upesi::Host& host, upesi::Registrar& registrar) override {
    host_ = &host;
    auto ini = host.config(host.pluginName() + ".ini", "ini");
    if (ini.contains("main") && ini["main"].contains("inherits")) {
      // As a derived plugin does: name the base, then read the config it shares.
      host.inherits(ini["main"]["inherits"].get<std::string>());
      ini = host.config(host.pluginName() + ".ini", "ini");
    }
    if (ini.contains("main") && ini["main"].contains("record")) {
      record_ = ini["main"]["record"].get<std::string>();
    }
    for (const auto& [section, keys] : ini.items()) {
      auto hook = upesi::hookFromString(section);
      if (!hook) {
        continue;
      }
      int priority = keys.value("priority", 0);
      registrar.registerHook(
          *hook,
          [this, hook = *hook, keys = keys](upesi::Next next, upesi::Connection& connection,
                                            const upesi::HookParams& params) {
            answer(hook, keys, next, connection, params);
          },
          priority, "hook_" + section);
    }
  }

  void shutdown() override {
    if (!record_.empty()) {
      std::ofstream(record_, std::ios::app)
          << host_->pluginName() << " shutdown " << ::getpid() << '\n';
    }
  }

private:
  void answer(upesi::Hook hook, const nlohmann::json& keys, const upesi::Next& next,
              upesi::Connection& connection, const upesi::HookParams& params) {
    if (!record_.empty()) {
      std::ofstream out(record_, std::ios::app);
      out << host_->pluginName() << ' ' << upesi::toString(hook) << ' ' << ::getpid();
      if (params.hmail != nullptr) {
        out << ' ' << outboundFacts(hook, params).dump();
      } else if (!params.verb.empty()) {
        out << ' ' << commandFacts(params).dump();
      } else if (hook == upesi::Hook::PreSendTransEmail && connection.transaction() != nullptr) {
        out << ' ' << transactionFacts(*connection.transaction()).dump();
      } else if (hook == upesi::Hook::Connect) {
        out << ' ' << connectionFacts(connection).dump();
      }
      out << '\n';
    }
    std::string subject;
    if (params.address != nullptr) {
      subject = params.address->address();
    } else if (!params.host.empty()) {
      subject = std::string(params.host);
    } else if (!params.domain.empty()) {
      subject = std::string(params.domain);
    }
    if (keys.contains("match") &&
        subject.find(keys["match"].get<std::string>()) == std::string::npos) {
      next(upesi::Code::Cont);
      return;
    }
    if (keys.contains("relay") && (keys["relay"] == true || keys["relay"] == "true")) {
      connection.setRelaying(true);
    }
    if (keys.contains("note") && connection.transaction() != nullptr) {
      auto [key, value] = keyAndValue(keys["note"].get<std::string>());
      connection.transaction()->notes()[key] = value;
    }
    if (keys.contains("result")) {
      auto [key, value] = keyAndValue(keys["result"].get<std::string>());
      connection.results().add(host_->pluginName(), {{key, value}});
    }
    if (keys.contains("connection_note")) {
      auto spec = keys["connection_note"].get<std::string>();
      auto colon = spec.find(':');
      connection.notes()[spec.substr(0, colon)] =
          colon == std::string::npos ? "" : spec.substr(colon + 1);
    }
    if (keys.contains("item_note") && params.hmail != nullptr) {
      auto spec = keys["item_note"].get<std::string>();
      auto colon = spec.find(':');
      params.hmail->itemNotes()[spec.substr(0, colon)] =
          colon == std::string::npos ? "" : spec.substr(colon + 1);
    }
    if (keys.contains("claim") && params.claims != nullptr && params.esmtp != nullptr) {
      const auto& wanted = keys["claim"];
      for (const auto& keyword : wanted.is_array() ? wanted : nlohmann::json::array({wanted})) {
        if (!params.claims->claim(keyword.get<std::string>())) {
          continue;
        }
        for (const auto& [name, value] : *params.esmtp) {
          if (name == keyword && connection.transaction() != nullptr) {
            connection.transaction()->notes()["claimed_" + name] = value;
          }
        }
      }
    }
    if (keys.contains("header") && connection.transaction() != nullptr) {
      auto field = keys["header"].get<std::string>();
      auto colon = field.find(':');
      std::string value = colon == std::string::npos ? "" : field.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      connection.transaction()->addHeader(field.substr(0, colon), value);
    }
    if (keys.contains("banner") && connection.transaction() != nullptr) {
      auto unescape = [](std::string text) {
        for (auto at = text.find("\\n"); at != std::string::npos; at = text.find("\\n", at)) {
          text.replace(at, 2, "\n");
        }
        return text;
      };
      connection.transaction()->setBanner(unescape(keys["banner"].get<std::string>()),
                                          unescape(keys.value("banner_html", std::string())));
    }
    if (keys.contains("save") && connection.transaction() != nullptr) {
      auto* txn = connection.transaction();
      std::ofstream out(keys["save"].get<std::string>() + "/" + txn->uuid() + ".eml",
                        std::ios::binary);
      out << "X-Test-Envelope: " << txn->mailFrom().format();
      for (const auto& rcpt : txn->rcptTo()) {
        out << ' ' << rcpt.format();
      }
      out << "\r\n";
      txn->writeMessage([&out](std::string_view bytes) {
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return true;
      });
    }
    if (keys.contains("send_to")) {
      upesi::Address from;
      from.user = "robot";
      from.host = "plugin.example";
      from.original = "<robot@plugin.example>";
      upesi::Address to;
      std::string rcpt = keys["send_to"].get<std::string>();
      to.user = rcpt.substr(0, rcpt.find('@'));
      to.host = rcpt.substr(rcpt.find('@') + 1);
      to.original = "<" + rcpt + ">";
      std::string record = record_;
      upesi::SendEmailOptions options;
      if (keys.contains("send_notes")) {
        options.notes = nlohmann::json::parse(keys["send_notes"].get<std::string>());
      }
      options.dot_stuffed =
          keys.contains("send_dot_stuffed") &&
          (keys["send_dot_stuffed"] == true || keys["send_dot_stuffed"] == "true");
      std::string text = options.dot_stuffed
                             ? "Subject: generated by a plugin\n\n..dot first\nbody\n"
                             : "Subject: generated by a plugin\n\n.dot first\nbody\n";
      host_->sendEmail(
          from, {to}, text,
          [record](upesi::Code result, const std::string& message) {
            if (!record.empty()) {
              std::ofstream(record, std::ios::app) << "send_email " << upesi::toString(result)
                                                   << ' ' << ::getpid() << ' ' << message << '\n';
            }
          },
          options);
    }
    upesi::Code code = codeFromName(keys.value("code", std::string("CONT")));
    std::vector<std::string> lines;
    if (keys.contains("msg")) {
      const auto& msg = keys["msg"];
      if (msg.is_array()) {
        for (const auto& line : msg) {
          lines.push_back(line.is_string() ? line.get<std::string>() : line.dump());
        }
      } else {
        lines.push_back(msg.is_string() ? msg.get<std::string>() : msg.dump());
      }
    }
    std::string mode = keys.value("mode", std::string("inline"));
    if (mode == "never") {
      return;
    }
    if (mode == "throw") {
      throw std::runtime_error("scripted failure");
    }
    if (mode == "async") {
      auto delay = static_cast<std::uint64_t>(keys.value("delay_ms", 10));
      host_->setTimeout(delay, [next, code, lines] { next(code, lines); });
      return;
    }
    next(code, lines);
    if (mode == "twice") {
      next(upesi::Code::Deny, "second answer must be ignored");
    }
  }

  upesi::Host* host_ = nullptr;
  std::string record_;
};

} // namespace

UPESI_PLUGIN(Scripted, "scripted", "Answers hooks as config/<name>.ini says (for tests).")
