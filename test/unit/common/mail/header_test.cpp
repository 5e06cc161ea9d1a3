#include <upesi/text.hpp>

#include "common/mail/header.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using upesi::mail::Header;
using upesi::mail::HeaderField;
using upesi::mail::HeaderOptions;
using upesi::text::equalsIgnoreCase;

namespace {
using namespace std::string_literals;
}

TEST_CASE("header: parse and look up case-insensitively") {
  Header h = Header::parse("From: a@example.com\r\nTo: b@example.com\r\nsubject: Hello\r\n");
  CHECK(h.size() == 3);
  CHECK(h.get("From") == "a@example.com");
  CHECK(h.get("FROM") == "a@example.com");
  CHECK(h.get("Subject") == "Hello");
  CHECK_FALSE(h.get("Cc").has_value());
  CHECK(h.count("to") == 1);
  CHECK(h.count("cc") == 0);
  CHECK_FALSE(h.malformed());
  CHECK(h.parsedLines() == 3);
}

TEST_CASE("header: an unchanged header serialises byte for byte") {
  std::string block = "Received: from x\r\n\tby y;\r\n date\r\nSubject:  spaced  \r\n"
                      "X-Empty:\r\nX-Weird : v\r\n";
  Header h = Header::parse(block);
  CHECK(h.serialize() == block);
  CHECK(h.serializedSize() == block.size());
}

TEST_CASE("header: LF-only lines become CRLF") {
  Header h = Header::parse("A: 1\nB: 2\n continued\n");
  CHECK(h.serialize() == "A: 1\r\nB: 2\r\n continued\r\n");
  CHECK(h.get("b") == "2 continued");
}

TEST_CASE("header: folded values are unfolded and trimmed") {
  Header h = Header::parse("Subject: one\r\n two\r\n\tthree  \r\nX: \t\r\n");
  CHECK(h.get("subject") == "one two\tthree");
  CHECK(h.get("x") == "");
  HeaderField f = h.field(0);
  CHECK(f.indexed);
  CHECK(f.name == "Subject");
  CHECK(f.raw == "Subject: one\r\n two\r\n\tthree  ");
  CHECK(f.raw_value == " one\r\n two\r\n\tthree  ");
}

TEST_CASE("header: getAll and count keep order") {
  Header h = Header::parse("Received: 1\r\nX: a\r\nreceived: 2\r\nRECEIVED: 3\r\n");
  CHECK(h.count("Received") == 3);
  CHECK(h.getAll("received") == std::vector<std::string>{"1", "2", "3"});
  CHECK(h.get("Received") == "1");
  CHECK(h.getAll("nope").empty());
}

TEST_CASE("header: parsing stops at the first empty line") {
  Header h = Header::parse("A: 1\r\n\r\nB: 2\r\n");
  CHECK(h.size() == 1);
  CHECK_FALSE(h.get("B").has_value());
  CHECK(h.serialize() == "A: 1\r\n");
  Header lf = Header::parse("A: 1\n\nB: 2\n");
  CHECK(lf.size() == 1);
  CHECK(Header::parse("\r\nA: 1\r\n").empty());
  CHECK(Header::parse("").empty());
  CHECK(Header::parse("").serialize().empty());
}

TEST_CASE("header: a last line without a line ending") {
  Header h = Header::parse("A: 1\r\nB: 2");
  CHECK(h.get("b") == "2");
  CHECK(h.serialize() == "A: 1\r\nB: 2\r\n");
}

TEST_CASE("header: lines without a colon are kept raw and taint the header") {
  Header h = Header::parse("A: 1\r\nthis is not a header\r\n continued\r\nB: 2\r\n");
  CHECK(h.malformed());
  CHECK(h.size() == 3);
  CHECK(h.get("A") == "1");
  CHECK(h.get("B") == "2");
  HeaderField raw = h.field(1);
  CHECK_FALSE(raw.indexed);
  CHECK(raw.name.empty());
  CHECK(raw.raw == "this is not a header\r\n continued");
  CHECK(h.serialize() == "A: 1\r\nthis is not a header\r\n continued\r\nB: 2\r\n");
  // Nothing can find the raw field by name, even by its first word.
  CHECK(h.count("this is not a header") == 0);
  CHECK(h.remove("this is not a header") == 0);
}

TEST_CASE("header: hostile names are not indexed") {
  Header h = Header::parse(": empty name\r\nBad Name: x\r\nCtl\x01: y\r\n\x80high: z\r\nOk: 1\r\n");
  CHECK(h.malformed());
  CHECK(h.size() == 5);
  CHECK(h.count("Bad Name") == 0);
  CHECK(h.count("") == 0);
  CHECK(h.get("Ok") == "1");
  CHECK(h.serialize() == ": empty name\r\nBad Name: x\r\nCtl\x01: y\r\n\x80high: z\r\nOk: 1\r\n");
}

// Kept as it was, the orphan folded into the Received field prepended before it: the trace
// field was corrupted and the line's meaning changed.
TEST_CASE("header: a continuation with nothing to continue folds into nothing") {
  Header h = Header::parse(" orphan: x\r\nA: 1\r\n");
  CHECK(h.malformed());
  CHECK(h.size() == 2);
  CHECK(h.get("A") == "1");
  CHECK(h.serialize() == "orphan: x\r\nA: 1\r\n");
  REQUIRE(h.addLeading("Received", "from client.example by mx.example; date").ok());
  const std::string text = h.serialize();
  CHECK(text == "Received: from client.example by mx.example; date\r\norphan: x\r\nA: 1\r\n");
  // What a reader of the message sees: our Received intact, the line a field of its own.
  Header again = Header::parse(text);
  CHECK(again.getAll("Received") ==
        std::vector<std::string>{"from client.example by mx.example; date"});
  CHECK(again.get("orphan") == "x");
  CHECK(again.size() == 3);

  // Its own continuation lines stay with it; a tab is WSP too; without a colon it stays raw.
  Header folded = Header::parse("\t\tno colon\r\n more\r\nA: 1\r\n");
  CHECK(folded.malformed());
  REQUIRE(folded.size() == 2);
  CHECK_FALSE(folded.field(0).indexed);
  CHECK(folded.field(0).raw == "no colon\r\n more");
  REQUIRE(folded.addLeading("Received", "r").ok());
  CHECK(folded.serialize() == "Received: r\r\nno colon\r\n more\r\nA: 1\r\n");

  // Lines of WSP alone would be written back as the empty line that ends the header: gone.
  Header blank = Header::parse(" \r\n\t \r\n  Subject: s\r\nA: 1\r\n");
  CHECK(blank.malformed());
  CHECK(blank.size() == 2);
  CHECK(blank.get("subject") == "s");
  CHECK(blank.serialize() == "Subject: s\r\nA: 1\r\n");
  CHECK(blank.parsedLines() == 2);
  Header only_blank = Header::parse("  \r\n");
  CHECK(only_blank.empty());
  CHECK(only_blank.serialize().empty());

  // A continuation after a field is still a fold.
  Header fine = Header::parse("A: 1\r\n 2\r\n");
  CHECK_FALSE(fine.malformed());
  CHECK(fine.get("A") == "1 2");
}

TEST_CASE("header: WSP before the colon (obsolete syntax)") {
  Header h = Header::parse("Subject \t: hi\r\n");
  CHECK_FALSE(h.malformed());
  CHECK(h.get("subject") == "hi");
  CHECK(h.field(0).name == "Subject");
}

TEST_CASE("header: lone CR is data, NUL is kept") {
  Header h = Header::parse("A: x\ry\r\nB: \0z\r\n"s);
  CHECK(h.size() == 2);
  CHECK(h.get("a") == "x\ry");
  CHECK(h.get("b") == "\0z"s);
  CHECK(h.serialize() == "A: x\ry\r\nB: \0z\r\n"s);
  // "\r\r\n" is a CR inside the line followed by CRLF, not an empty line.
  Header cr = Header::parse("A: 1\r\r\nB: 2\r\n");
  CHECK(cr.size() == 2);
  CHECK(cr.serialize() == "A: 1\r\r\nB: 2\r\n");
}

TEST_CASE("header: the line cap leaves later fields raw") {
  std::string block;
  for (int i = 0; i < 1005; ++i) {
    block += "Received: " + std::to_string(i) + "\r\n";
  }
  block += "Subject: late\r\n";
  Header h = Header::parse(block);
  CHECK(h.capped());
  CHECK_FALSE(h.malformed());
  CHECK(h.count("Received") == 1000);
  CHECK_FALSE(h.get("Subject").has_value());
  CHECK(h.size() == 1006);
  CHECK(h.serialize() == block);

  HeaderOptions small;
  small.max_lines = 2;
  Header s = Header::parse("A: 1\r\n folded\r\nB: 2\r\nC: 3\r\n", small);
  CHECK(s.get("A") == "1 folded");
  CHECK_FALSE(s.get("B").has_value()); // starts on line 3
  CHECK(s.capped());
}

TEST_CASE("header: add and addLeading") {
  Header h = Header::parse("Subject: s\r\n");
  REQUIRE(h.add("X-Spam", "no").ok());
  REQUIRE(h.addLeading("Received", "from a\r\n\tby b; date").ok());
  CHECK(h.serialize() == "Received: from a\r\n\tby b; date\r\nSubject: s\r\nX-Spam: no\r\n");
  CHECK(h.get("received") == "from a\tby b; date");
  CHECK(h.get("x-spam") == "no");
  CHECK(h.serializedSize() == h.serialize().size());
  // Iteration sees the fields in order.
  std::vector<std::string> names;
  for (HeaderField f : h) {
    names.emplace_back(f.name);
  }
  CHECK(names == std::vector<std::string>{"Received", "Subject", "X-Spam"});
}

TEST_CASE("header: add refuses bad names and smuggled line breaks") {
  Header h;
  CHECK_FALSE(h.add("", "x").ok());
  CHECK_FALSE(h.add("Bad Name", "x").ok());
  CHECK_FALSE(h.add("Colon:", "x").ok());
  CHECK_FALSE(h.add("Tab\t", "x").ok());
  CHECK_FALSE(h.add("Del\x7f", "x").ok());
  CHECK_FALSE(h.add("X", "a\r\nBcc: victim@example.com").ok());
  CHECK_FALSE(h.add("X", "a\nb").ok());
  CHECK_FALSE(h.add("X", "a\rb").ok());
  CHECK_FALSE(h.add("X", "a\r\n").ok());
  // A continuation line of only whitespace reads as an empty line to some parsers.
  CHECK_FALSE(h.add("X", "a\r\n ").ok());
  CHECK_FALSE(h.add("X", "a\r\n \t\r\n b").ok());
  CHECK_FALSE(h.add("X", "a\r\n\r\n b").ok());
  CHECK_FALSE(h.add("X", "a\0b"s).ok());
  CHECK_FALSE(h.addLeading("X", "a\nb").ok());
  CHECK(h.add("X", "").ok());
  CHECK(h.add("X", "folded\r\n value").ok());
  CHECK(h.count("x") == 2);
  auto bad = h.add("X", "a\nb");
  REQUIRE_FALSE(bad.ok());
  CHECK_FALSE(bad.error().empty());
}

TEST_CASE("header: remove") {
  Header h = Header::parse("A: 1\r\nB: 2\r\na: 3\r\nC: 4\r\n");
  CHECK(h.remove("a") == 2);
  CHECK(h.serialize() == "B: 2\r\nC: 4\r\n");
  CHECK(h.remove("a") == 0);
  CHECK(h.remove("B") == 1);
  CHECK(h.remove("c") == 1);
  CHECK(h.empty());
  CHECK(h.serialize().empty());
}

TEST_CASE("header: removeIf removes only the named fields the predicate picks") {
  Header h = Header::parse("A: keep\r\nA: drop\r\nB: drop\r\nX: y\r\n\tdrop\r\n");
  REQUIRE(h.add("A", "drop too").ok());
  auto dropped = [](const HeaderField& field) { return field.value().find("drop") == 0; };
  CHECK(h.removeIf("a", dropped) == 2);
  CHECK(h.serialize() == "A: keep\r\nB: drop\r\nX: y\r\n\tdrop\r\n");
  CHECK(h.removeIf("x", [](const HeaderField& field) { return field.value() == "y\tdrop"; }) == 1);
  CHECK(h.removeIf("B", [](const HeaderField&) { return false; }) == 0);
  CHECK(h.get("B") == "drop");
}

TEST_CASE("header: edits survive copies and moves") {
  Header h = Header::parse("A: 1\r\nB: 2\r\n");
  REQUIRE(h.add("C", "3").ok());
  Header copy = h;
  Header moved = std::move(h);
  CHECK(copy.serialize() == "A: 1\r\nB: 2\r\nC: 3\r\n");
  CHECK(moved.serialize() == "A: 1\r\nB: 2\r\nC: 3\r\n");
  CHECK(moved.get("b") == "2");
  // Short headers (small-string storage) too.
  Header tiny = Header::parse("A: 1\r\n");
  Header tiny2 = std::move(tiny);
  CHECK(tiny2.get("a") == "1");
}

TEST_CASE("header: name helpers") {
  CHECK(equalsIgnoreCase("Content-Type", "content-TYPE"));
  CHECK_FALSE(equalsIgnoreCase("abc", "abd"));
  CHECK_FALSE(equalsIgnoreCase("abc", "ab"));
  CHECK(Header::validName("X-Mailer"));
  CHECK(Header::validName("!#$%&'*+-.^_`|~"));
  CHECK_FALSE(Header::validName("a:b"));
  CHECK(Header::validValue("plain"));
  CHECK(Header::validValue("a\r\n\tb"));
  CHECK_FALSE(Header::validValue("a\r\nb"));
}
