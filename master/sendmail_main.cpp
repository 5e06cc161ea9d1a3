// upesi-sendmail: the `sendmail` entry point local programs (cron, mail(1), scripts) use. It
// leaves each message in the maildrop directory (smtp.ini maildrop_dir), where the server
// queues it through send_email, as Postfix's sendmail and postdrop do: the message is safe on
// disk when this exits 0, whether or not the server runs. Installed set-group-id to a group of
// its own that may only write the maildrop directory (the Debian package does this): it then
// reads only the compiled-in install directory and no environment.
#include "common/config/config.hpp"
#include "common/config/server_name.hpp"
#include "common/config/smtp_config.hpp"
#include "common/maildrop/address_list.hpp"
#include "common/maildrop/drop_file.hpp"
#include "common/maildrop/drop_writer.hpp"
#include "common/maildrop/sendmail_message.hpp"
#include "common/maildrop/sendmail_options.hpp"
#include "common/util/paths.hpp"
#include "master/sendmail_smtp.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <pwd.h>
#include <string>
#include <sysexits.h>
#include <unistd.h>
#include <vector>

#include "build_info.hpp"

namespace {

using upesi::maildrop::SendmailOptions;

int fail(int status, const std::string& why) {
  fmt::print(stderr, "sendmail: {}\n", why);
  return status;
}

std::string loginName(uid_t uid) {
  if (const passwd* p = ::getpwuid(uid); p != nullptr && p->pw_name != nullptr) {
    return p->pw_name;
  }
  return fmt::format("uid{}", uid);
}

} // namespace

int main(int argc, char** argv) {
  // Set-group-id: nothing from the caller's environment steers what runs with the group.
  const bool privileged = ::getegid() != ::getgid() || ::geteuid() != ::getuid();
  if (privileged) {
    ::clearenv();
  }
  std::string program = argc > 0 && argv[0] != nullptr ? argv[0] : "sendmail";
  if (const auto slash = program.rfind('/'); slash != std::string::npos) {
    program.erase(0, slash + 1);
  }
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  auto options = upesi::maildrop::parseSendmailOptions(args, program);
  if (!options) {
    return fail(EX_USAGE, options.error());
  }
  switch (options->mode) {
  case SendmailOptions::Mode::Version:
    fmt::print("upesi-sendmail {}\n", UPESI_VERSION);
    return EX_OK;
  case SendmailOptions::Mode::Aliases:
    fmt::print(stderr, "newaliases: nothing to rebuild: Upesi reads config/aliases itself "
                       "(the aliases plugin)\n");
    return EX_OK;
  case SendmailOptions::Mode::PrintQueue:
    return fail(EX_UNAVAILABLE, "the queue is listed by `upesi -c DIR --qlist` (as root)");
  case SendmailOptions::Mode::Flush:
    return fail(EX_UNAVAILABLE, "deferred mail is retried now by `upesi -c DIR --flush` (as "
                                "root)");
  case SendmailOptions::Mode::Deliver:
  case SendmailOptions::Mode::Smtp:
    break;
  }

  const std::filesystem::path install =
      !privileged && !options->install_dir.empty() ? options->install_dir : UPESI_INSTALL_DIR;
  upesi::config::Config config(install / "config", upesi::defaultsDir());
  auto smtp = upesi::config::readSmtpConfig(config);
  if (!smtp) {
    return fail(EX_CONFIG, smtp.error());
  }
  const std::filesystem::path maildrop =
      smtp->maildrop_dir.empty() ? install / "maildrop" : std::filesystem::path(smtp->maildrop_dir);
  const uid_t uid = ::getuid();
  const std::string user = loginName(uid);
  const std::uint64_t max_size = smtp->limits.max_message_size;

  if (options->mode == SendmailOptions::Mode::Smtp) {
    upesi::master::SmtpSessionSettings session{upesi::config::serverName(config), max_size, user,
                                               uid, maildrop};
    return upesi::master::runSmtpSession(stdin, stdout, session);
  }

  auto message = upesi::maildrop::readMessage(stdin, options->dot_ends_message, max_size);
  if (!message) {
    return fail(EX_DATAERR, message.error());
  }
  upesi::maildrop::Envelope envelope;
  envelope.uid = uid;
  envelope.user = user;
  envelope.from = options->from.value_or(user);
  envelope.full_name = options->full_name;
  for (const auto& arg : options->recipients) {
    for (auto& address : upesi::maildrop::splitAddressList(arg)) {
      envelope.to.push_back(std::move(address));
    }
  }
  std::string text = std::move(message).value();
  if (options->extract_recipients) {
    auto taken = upesi::maildrop::takeHeaderRecipients(text);
    for (auto& address : taken.recipients) {
      envelope.to.push_back(std::move(address));
    }
    text = std::move(taken.message);
  }
  if (envelope.to.empty()) {
    return fail(EX_USAGE, options->extract_recipients
                              ? "no recipients in the To, Cc or Bcc fields, nor given"
                              : "no recipients given (name them, or use -t)");
  }
  auto block = upesi::maildrop::serializeEnvelope(envelope);
  if (!block) {
    return fail(EX_DATAERR, block.error());
  }
  auto name = upesi::maildrop::writeDropFile(maildrop, *block, text);
  if (!name) {
    return fail(EX_TEMPFAIL, name.error());
  }
  return EX_OK;
}
