// What a milter may change at the end of a message, through the Transaction API: header fields at
// a position, the body (in memory and spilled), the sender and its DSN parameters.
#include "test/support/temp_dir.hpp"
#include "worker/smtp/transaction_impl.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using upesi::Address;
using upesi::DsnReturn;
using upesi::MessageWriteOptions;
using upesi::smtp::MessageStreamOptions;
using upesi::smtp::TransactionImpl;
using upesi::test::TempDir;

namespace {

const std::string EditedMessage =
    "Received: from a\r\nSubject: hi\r\nX-Tag: one\r\nX-Tag: two\r\n\r\n"
    "old body\r\n.dot line\r\n";

TransactionImpl received(MessageStreamOptions options = {}) {
  TransactionImpl txn("uuid.1", Address(), {}, std::move(options));
  REQUIRE(txn.message().append(EditedMessage).ok());
  REQUIRE(txn.message().finish().ok());
  return txn;
}

std::string written(const TransactionImpl& txn, MessageWriteOptions options = {}) {
  std::string out;
  REQUIRE(txn.writeMessage(
      [&](std::string_view bytes) {
        out.append(bytes);
        return true;
      },
      options));
  return out;
}

} // namespace

TEST_CASE("transaction edits: insert at a position, change and delete the nth field") {
  TransactionImpl txn = received();
  txn.insertHeader(0, "X-First", "top");
  txn.insertHeader(2, "X-Third", "folded\n\tvalue");
  txn.insertHeader(99, "X-Last", "end");
  txn.changeHeader("x-tag", 2, "TWO");
  txn.changeHeader("X-Tag", 1, "");
  txn.changeHeader("X-Missing", 3, "added");
  txn.changeHeader("X-Absent", 1, ""); // deleting what is not there changes nothing
  CHECK(written(txn) == "X-First: top\r\nReceived: from a\r\nX-Third: folded\r\n\tvalue\r\n"
                        "Subject: hi\r\nX-Tag: TWO\r\nX-Last: end\r\nX-Missing: added\r\n\r\n"
                        "old body\r\n.dot line\r\n");
}

TEST_CASE("transaction edits: a replaced body follows the header; LF becomes CRLF") {
  TempDir dir;
  for (const std::int64_t spool_after : {std::int64_t{-1}, std::int64_t{0}}) {
    MessageStreamOptions options;
    options.spool_dir = dir.str();
    options.spool_after = spool_after;
    TransactionImpl txn = received(options);
    auto writer = txn.replaceBody();
    REQUIRE(writer != nullptr);
    CHECK(writer->append("new\nbody\r"));
    CHECK(writer->append("\n.starts with a dot\n"));
    CHECK(written(txn) == EditedMessage); // not yet committed
    REQUIRE(writer->commit());
    const std::string expected = "Received: from a\r\nSubject: hi\r\nX-Tag: one\r\nX-Tag: two\r\n"
                                 "\r\nnew\r\nbody\r\n.starts with a dot\r\n";
    CHECK(written(txn) == expected);
    CHECK(written(txn, {.dot_stuffed = true, .crlf = true}) ==
          "Received: from a\r\nSubject: hi\r\nX-Tag: one\r\nX-Tag: two\r\n"
          "\r\nnew\r\nbody\r\n..starts with a dot\r\n");
    CHECK_FALSE(writer->append("late"));
  }
}

TEST_CASE("transaction edits: a large replaced body spills and is written in chunks") {
  TempDir dir;
  MessageStreamOptions options;
  options.spool_dir = dir.str();
  options.spool_after = 64 * 1024;
  TransactionImpl txn = received(options);
  auto writer = txn.replaceBody();
  const std::string line(998, 'x');
  std::size_t lines = 0;
  for (std::size_t bytes = 0; bytes < 3 * 1024 * 1024; bytes += line.size() + 1, ++lines) {
    REQUIRE(writer->append(line + "\n"));
  }
  REQUIRE(writer->commit());
  std::size_t largest = 0;
  std::size_t total = 0;
  REQUIRE(txn.writeMessage(
      [&](std::string_view bytes) {
        largest = std::max(largest, bytes.size());
        total += bytes.size();
        return true;
      },
      {}));
  CHECK(total == EditedMessage.find("\r\n\r\n") + 4 + lines * (line.size() + 2));
  CHECK(largest < 1024 * 1024);
}

TEST_CASE("transaction edits: a writer dropped without commit changes nothing") {
  TransactionImpl txn = received();
  {
    auto writer = txn.replaceBody();
    REQUIRE(writer->append("never used\r\n"));
  }
  CHECK(written(txn) == EditedMessage);
}

TEST_CASE("transaction edits: a new sender brings its DSN parameters") {
  TransactionImpl txn = received();
  Address sender;
  sender.user = "new";
  sender.host = "example.org";
  txn.setMailFrom(sender, {{"RET", "HDRS"}, {"ENVID", "id+2B1"}});
  CHECK(txn.mailFrom().address() == "new@example.org");
  CHECK(txn.mailParams().size() == 2);
  CHECK(txn.mailOptions().dsn_ret == DsnReturn::Headers);
  CHECK(txn.mailOptions().dsn_envid == "id+1");
  Address null_sender;
  null_sender.is_null = true;
  txn.setMailFrom(null_sender, {});
  CHECK(txn.mailFrom().is_null);
  CHECK(txn.mailOptions().dsn_ret == DsnReturn::Unset);
}
