// TransactionImpl's body API: when the parser runs, what plugins' attachment handlers get, and
// that one plugin's exception does not take the others' bytes away.
#include "worker/smtp/transaction_impl.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using upesi::AttachmentHandlers;
using upesi::BodyPart;
using upesi::smtp::TransactionImpl;

namespace {

const std::string Message = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                            "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
                            "--b\r\nContent-Type: application/zip; name=a.zip\r\n"
                            "Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n"
                            "--b--\r\n";

TransactionImpl makeTransaction() {
  return TransactionImpl("uuid.1", upesi::Address(), {}, {});
}

void stream(TransactionImpl& txn) {
  txn.startBody({});
  for (char c : Message) {
    txn.feedBody(std::string_view(&c, 1));
  }
  txn.finishBody();
}

} // namespace

TEST_CASE("nobody asked: no parser, no body") {
  TransactionImpl txn = makeTransaction();
  stream(txn);
  CHECK(txn.body() == nullptr);
}

TEST_CASE("parseBody(true): the tree with text, available once the data ended") {
  TransactionImpl txn = makeTransaction();
  txn.parseBody(true);
  CHECK(txn.parseBody());
  txn.startBody({});
  txn.feedBody(Message);
  CHECK(txn.body() == nullptr);
  txn.finishBody();
  const BodyPart* body = txn.body();
  REQUIRE(body != nullptr);
  REQUIRE(body->childCount() == 2);
  CHECK(body->child(0).text() == "hello");
  CHECK(body->child(1).filename() == "a.zip");
  CHECK(body->child(1).decodedBytes() == 4);
}

TEST_CASE("attachment handlers: each plugin's own, a throwing one dropped alone") {
  TransactionImpl txn = makeTransaction();
  std::string good;
  bool good_ended = false;
  int bad_calls = 0;
  bool bad_ended = false;
  txn.attachmentHooks([&](const BodyPart& part) {
    CHECK(part.contentType() == "application/zip");
    AttachmentHandlers handlers;
    handlers.data = [&](std::string_view) {
      ++bad_calls;
      throw std::runtime_error("broken plugin");
    };
    handlers.end = [&] { bad_ended = true; };
    return handlers;
  });
  txn.attachmentHooks([&](const BodyPart&) {
    AttachmentHandlers handlers;
    handlers.data = [&](std::string_view bytes) { good.append(bytes); };
    handlers.end = [&] { good_ended = true; };
    return handlers;
  });
  txn.attachmentHooks(
      [](const BodyPart&) -> AttachmentHandlers { throw std::runtime_error("broken start"); });
  stream(txn);
  CHECK(good == "PK\x03\x04");
  CHECK(good_ended);
  CHECK(bad_calls == 1);
  CHECK_FALSE(bad_ended);
  // Attachment hooks alone parse the body, without keeping text.
  REQUIRE(txn.body() != nullptr);
  CHECK(txn.body()->child(0).text().empty());
}
