#include "common/maildrop/sendmail_message.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

using upesi::maildrop::readMessage;
using upesi::maildrop::takeHeaderRecipients;
using Addresses = std::vector<std::string>;

namespace {

// The text as a FILE*, as stdin would give it.
struct MemoryInput {
  std::string text;
  std::FILE* file;
  explicit MemoryInput(std::string t) : text(std::move(t)) {
    file = fmemopen(text.data(), text.size(), "r");
  }
  ~MemoryInput() { std::fclose(file); }
};

} // namespace

TEST_CASE("sendmail: a lone dot ends the message unless -i; the rest is not read") {
  MemoryInput dotted("Subject: a\n\nline\n.\nafter\n");
  CHECK(*readMessage(dotted.file, true, 1000) == "Subject: a\n\nline\n");
  MemoryInput crlf("Subject: a\r\n\r\n..kept\r\n.\r\n");
  CHECK(*readMessage(crlf.file, true, 1000) == "Subject: a\r\n\r\n..kept\r\n");
  MemoryInput plain("Subject: a\n\nline\n.\nafter");
  CHECK(*readMessage(plain.file, false, 1000) == "Subject: a\n\nline\n.\nafter");
}

TEST_CASE("sendmail: a message over the limit is refused") {
  MemoryInput big(std::string(2000, 'x'));
  auto read = readMessage(big.file, false, 1000);
  REQUIRE_FALSE(read.ok());
  CHECK(read.error() == "the message is over 1000 bytes (smtp.ini max_message_size)");
}

TEST_CASE("sendmail -t: To, Cc and Bcc give the recipients; Bcc leaves the message") {
  auto taken = takeHeaderRecipients("From: me\nTo: a@example.org, Jo <b@example.org>\n"
                                    "Cc: c\nBcc: secret@example.org\nSubject: s\n\nBcc: body\n");
  CHECK(taken.recipients == Addresses{"a@example.org", "b@example.org", "c", "secret@example.org"});
  CHECK(taken.message.find("secret") == std::string::npos);
  CHECK(taken.message.find("Subject: s\r\n") != std::string::npos);
  CHECK(taken.message.ends_with("\r\nBcc: body\n"));
}

TEST_CASE("sendmail -t: with Resent- fields only the Resent- recipients count") {
  auto taken = takeHeaderRecipients("Resent-To: new@example.org\nResent-Bcc: hidden@example.org\n"
                                    "To: old@example.org\n\nbody\n");
  CHECK(taken.recipients == Addresses{"new@example.org", "hidden@example.org"});
  CHECK(taken.message.find("hidden") == std::string::npos);
  CHECK(taken.message.find("To: old@example.org") != std::string::npos);
}

TEST_CASE("sendmail -t: a message without a header block has no recipients") {
  auto taken = takeHeaderRecipients("just a line\n");
  CHECK(taken.recipients.empty());
  CHECK(taken.message == "just a line\n");
}
