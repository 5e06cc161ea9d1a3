#include "common/queue/queue_file.hpp"
#include "common/queue/queue_file_name.hpp"
#include "common/queue/queue_writer.hpp"
#include "test/support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <variant>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using upesi::Error;
using upesi::Result;
using upesi::queue::ByteSink;
using upesi::queue::ClaimError;
using upesi::queue::ClaimFailure;
using upesi::queue::claimQueueFile;
using upesi::queue::deleteTempFiles;
using upesi::queue::MessageWriter;
using upesi::queue::moveToError;
using upesi::queue::QueueFileLock;
using upesi::queue::QueueFileName;
using upesi::queue::readHeader;
using upesi::queue::removeQueueFile;
using upesi::queue::renameQueueFile;
using upesi::queue::rewriteQueueFile;
using upesi::queue::Todo;
using upesi::queue::writeQueueFile;
using upesi::test::TempDir;

namespace {

Todo writerTodo() {
  Todo todo;
  todo.queue_time = 1795418587971;
  todo.domain = "example.net";
  todo.rcpt_to.push_back(ordered_json::parse(
      R"({"original":"<b@example.net>","original_host":"example.net","host":"example.net","user":"b"})"));
  todo.mail_from = ordered_json::parse(R"({"original":"<>","host":"","user":""})");
  todo.notes = ordered_json::parse(R"({"skip_plugins":[]})");
  todo.uuid = "U.1";
  return todo;
}

MessageWriter chunks(std::vector<std::string> parts) {
  return [parts = std::move(parts)](const ByteSink& sink) -> Result<std::monostate> {
    for (const auto& part : parts) {
      if (auto r = sink(part); !r) {
        return r;
      }
    }
    return std::monostate{};
  };
}

// A pid that no process has: a child's, once it is reaped.
pid_t deadPid() {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  return child;
}

// A queue file name whose pid field is `pid`.
std::string nameOf(pid_t pid, std::uint32_t counter = 1) {
  return fmt::format("1_2_0_{}_abcDEF_{}_h", pid, counter);
}

bool running_as_root() {
  return ::geteuid() == 0;
}

} // namespace

TEST_CASE("queue writer: writes, renames, reads back") {
  TempDir dir;
  const std::string name = QueueFileName::makeNew(1795418587971, ::getpid(), "mx.test").format();
  const std::string big(200 * 1024, 'x'); // past the writer's buffer
  auto size = writeQueueFile(dir.str(), name, writerTodo(),
                             chunks({"Subject: s\r\n", "\r\n", "..dot\r\n", big, "\r\nend\r\n"}));
  REQUIRE(size.ok());
  CHECK(dir.entries() == std::vector<std::string>{name});
  const std::string bytes = dir.read(name);
  CHECK(*size == bytes.size());
  auto encoded = upesi::queue::encodeQueueFile(writerTodo(),
                                               "Subject: s\r\n\r\n..dot\r\n" + big + "\r\nend\r\n");
  REQUIRE(encoded.ok());
  CHECK(bytes == *encoded);

  struct stat st {};
  REQUIRE(::stat((dir.str() + "/" + name).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777 & ~0640) == 0); // 0640 less the umask

  auto header = readHeader(dir.str() + "/" + name);
  REQUIRE(header.ok());
  CHECK((header->todo == writerTodo()));

  // A null writer: header only.
  auto header_only = writeQueueFile(dir.str() + "/", "other", writerTodo(), MessageWriter{});
  REQUIRE(header_only.ok());
  CHECK(dir.read("other").size() == *header_only);
}

TEST_CASE("queue writer: failures leave no temporary file") {
  TempDir dir;
  // The message writer fails.
  auto failed = writeQueueFile(dir.str(), "f1", writerTodo(),
                               [](const ByteSink& sink) -> Result<std::monostate> {
                                 (void)sink("Subject: s\r\n");
                                 return Error{"spool read error"};
                               });
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().find("spool read error") != std::string::npos);
  CHECK(dir.entries().empty());

  // The temporary name exists already (O_EXCL): an error, and the other file is left alone.
  { std::ofstream(dir.str() + "/__tmp__.f2") << "someone else's"; }
  auto exists = writeQueueFile(dir.str(), "f2", writerTodo(), chunks({"x\r\n"}));
  REQUIRE_FALSE(exists.ok());
  CHECK(exists.error().find("File exists") != std::string::npos);
  CHECK(dir.read("__tmp__.f2") == "someone else's");
  fs::remove(dir.str() + "/__tmp__.f2");

  // No such directory.
  auto no_dir = writeQueueFile(dir.str() + "/missing", "f3", writerTodo(), chunks({}));
  REQUIRE_FALSE(no_dir.ok());
  CHECK(no_dir.error().find("No such file or directory") != std::string::npos);

  // Bad names.
  CHECK_FALSE(writeQueueFile(dir.str(), "", writerTodo(), chunks({})).ok());
  CHECK_FALSE(writeQueueFile(dir.str(), "../escape", writerTodo(), chunks({})).ok());

  // The final name is a directory: rename fails and the temporary file is unlinked.
  fs::create_directory(dir.str() + "/f4");
  fs::create_directory(dir.str() + "/f4/x");
  auto rename_failed = writeQueueFile(dir.str(), "f4", writerTodo(), chunks({"x\r\n"}));
  REQUIRE_FALSE(rename_failed.ok());
  CHECK(rename_failed.error().find("rename") != std::string::npos);
  CHECK(dir.entries() == std::vector<std::string>{"f4"});

  // A header too large to store.
  Todo huge = writerTodo();
  huge.notes["blob"] = std::string(upesi::queue::MaxHeaderBytes, 'x');
  CHECK_FALSE(writeQueueFile(dir.str(), "f5", huge, chunks({})).ok());
  CHECK(dir.entries() == std::vector<std::string>{"f4"});

  if (!running_as_root()) {
    // A read-only directory.
    fs::permissions(dir.str(), fs::perms::owner_read | fs::perms::owner_exec);
    auto denied = writeQueueFile(dir.str(), "f6", writerTodo(), chunks({}));
    REQUIRE_FALSE(denied.ok());
    CHECK(denied.error().find("Permission denied") != std::string::npos);
    fs::permissions(dir.str(), fs::perms::owner_all);
  }
}

TEST_CASE("queue writer: write errors from the disk are reported") {
  // A small RLIMIT_FSIZE makes write() fail with EFBIG (SIGXFSZ ignored meanwhile); both are
  // restored at once. Tests run one at a time, so nothing else writes files meanwhile.
  TempDir dir;
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  const auto saved_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 1000;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  auto result = writeQueueFile(dir.str(), "big", writerTodo(), chunks({std::string(100000, 'x')}));
  auto small_chunks = writeQueueFile(dir.str(), "big2", writerTodo(),
                                     chunks(std::vector<std::string>(100, std::string(100, 'y'))));
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, saved_handler);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().find("File too large") != std::string::npos);
  REQUIRE_FALSE(small_chunks.ok());
  CHECK(small_chunks.error().find("File too large") != std::string::npos);
  CHECK(dir.entries().empty());
}

TEST_CASE("queue writer: rename, remove, move to error") {
  TempDir dir;
  REQUIRE(writeQueueFile(dir.str(), "a", writerTodo(), chunks({"x\r\n"})).ok());
  REQUIRE(renameQueueFile(dir.str(), "a", "b").ok());
  CHECK(dir.entries() == std::vector<std::string>{"b"});
  auto missing = renameQueueFile(dir.str(), "a", "c");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().find("No such file") != std::string::npos);

  REQUIRE(moveToError(dir.str(), "b").ok());
  CHECK(dir.entries() == std::vector<std::string>{"error.b"});

  REQUIRE(removeQueueFile(dir.str(), "error.b").ok());
  CHECK(dir.entries().empty());
  auto again = removeQueueFile(dir.str(), "error.b");
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().find("No such file") != std::string::npos);
}

TEST_CASE("queue writer: rewriting replaces the original under the next name") {
  TempDir dir;
  Todo both = writerTodo();
  both.rcpt_to.push_back(ordered_json::parse(
      R"({"original":"<c@example.net>","original_host":"example.net","host":"example.net","user":"c"})"));
  REQUIRE(writeQueueFile(dir.str(), "a", both, chunks({"Subject: s\r\n\r\nbody\r\n"})).ok());
  auto claim = claimQueueFile(dir.str(), "a"); // as a delivery holds it
  REQUIRE(std::holds_alternative<QueueFileLock>(claim));

  // The message writer fails: the original is as it was, and nothing else is left.
  auto failed = rewriteQueueFile(
      dir.str(), "a", "b", writerTodo(),
      [](const ByteSink&) -> Result<std::monostate> { return Error{"read error"}; });
  REQUIRE_FALSE(failed.ok());
  CHECK(dir.entries() == std::vector<std::string>{"a"});
  auto kept = readHeader(dir.str() + "/a");
  REQUIRE(kept.ok());
  CHECK((kept->todo == both));

  auto rewritten =
      rewriteQueueFile(dir.str(), "a", "b", writerTodo(), chunks({"Subject: s\r\n\r\nbody\r\n"}));
  REQUIRE(rewritten.ok());
  CHECK(rewritten->name == "b");
  CHECK(rewritten->warning.empty());
  CHECK(dir.entries() == std::vector<std::string>{"b"});
  auto encoded = upesi::queue::encodeQueueFile(writerTodo(), "Subject: s\r\n\r\nbody\r\n");
  REQUIRE(encoded.ok());
  CHECK(dir.read("b") == *encoded);
  CHECK(std::holds_alternative<QueueFileLock>(claimQueueFile(dir.str(), "b"))); // released
}

TEST_CASE("queue writer: deleteTempFiles removes only __tmp__ files") {
  TempDir dir;
  const std::string name = nameOf(deadPid());
  for (const std::string& entry : {"__tmp__." + name, std::string("__tmp__.x"), name,
                                   "error." + name, std::string("__tmp_x")}) {
    std::ofstream(dir.str() + "/" + entry) << "x";
  }
  auto removed = deleteTempFiles(dir.str());
  REQUIRE(removed.ok());
  std::sort(removed->begin(), removed->end());
  CHECK(*removed == std::vector<std::string>{"__tmp__." + name, "__tmp__.x"});
  CHECK(dir.entries() == std::vector<std::string>{name, "__tmp_x", "error." + name});
  auto none = deleteTempFiles(dir.str());
  REQUIRE(none.ok());
  CHECK(none->empty());
  CHECK_FALSE(deleteTempFiles(dir.str() + "/missing").ok());
}

TEST_CASE("queue writer: deleteTempFiles leaves a temporary file its writer holds locked") {
  TempDir dir;
  const std::string held = dir.str() + "/__tmp__.held";
  std::ofstream(held) << "x";
  std::ofstream(dir.str() + "/__tmp__.left") << "x";
  const int fd = ::open(held.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX) == 0);
  auto removed = deleteTempFiles(dir.str());
  REQUIRE(removed.ok());
  CHECK(*removed == std::vector<std::string>{"__tmp__.left"});
  ::close(fd); // the writer is gone: now it is garbage
  removed = deleteTempFiles(dir.str());
  REQUIRE(removed.ok());
  CHECK(*removed == std::vector<std::string>{"__tmp__.held"});
  CHECK(dir.entries().empty());
}

TEST_CASE("queue writer: deleteTempFiles leaves the unlocked temporary file of a writer that "
          "runs") {
  // What a new generation's clean-up finds during a reload: a worker of the old one has just
  // created its file and not locked it yet.
  TempDir dir;
  const std::string live = "__tmp__." + nameOf(::getppid());
  const std::string dead = "__tmp__." + nameOf(deadPid());
  const std::string ours = "__tmp__." + nameOf(::getpid()); // a former process's: we write none
  for (const auto& name : {live, dead, ours}) {
    std::ofstream(dir.str() + "/" + name) << "x";
  }
  auto removed = deleteTempFiles(dir.str());
  REQUIRE(removed.ok());
  std::sort(removed->begin(), removed->end());
  std::vector<std::string> expected{dead, ours};
  std::sort(expected.begin(), expected.end());
  CHECK(*removed == expected);
  CHECK(dir.entries() == std::vector<std::string>{live});
}

TEST_CASE("queue writer: deleteTempFiles removes the temporary file of a zombie writer") {
  // A worker killed with its master is a zombie until init reaps it, and a container's init
  // may never: it writes nothing more, so its file is garbage.
  TempDir dir;
  const pid_t zombie = ::fork();
  REQUIRE(zombie >= 0);
  if (zombie == 0) {
    ::_exit(0);
  }
  siginfo_t info{};
  REQUIRE(::waitid(P_PID, static_cast<id_t>(zombie), &info, WEXITED | WNOWAIT) == 0);
  REQUIRE(::kill(zombie, 0) == 0); // still there, as a zombie
  const std::string name = "__tmp__." + nameOf(zombie);
  std::ofstream(dir.str() + "/" + name) << "x";
  auto removed = deleteTempFiles(dir.str());
  int status = 0;
  REQUIRE(::waitpid(zombie, &status, 0) == zombie);
  REQUIRE(removed.ok());
  CHECK(*removed == std::vector<std::string>{name});
  CHECK(dir.entries().empty());
}

TEST_CASE("queue writer: writes race clean-ups of other processes and all succeed") {
  // Names without a pid field: the clean-ups know nothing of the writer but its lock, and may
  // remove a file between its creation and its lock; the writer makes it again.
  TempDir dir;
  const pid_t cleaner = ::fork();
  REQUIRE(cleaner >= 0);
  if (cleaner == 0) {
    for (;;) {
      (void)deleteTempFiles(dir.str());
    }
  }
  std::vector<std::string> failures;
  constexpr int Files = 400;
  for (int n = 0; n < Files; ++n) {
    auto size = writeQueueFile(dir.str(), fmt::format("race-{}", n), writerTodo(), chunks({"x"}));
    if (!size) {
      failures.push_back(size.error());
    }
  }
  ::kill(cleaner, SIGKILL);
  ::waitpid(cleaner, nullptr, 0);
  CHECK(failures == std::vector<std::string>{});
  CHECK(dir.entries().size() == Files);
}

TEST_CASE("queue writer: the file is locked while it is written, until it is in place") {
  TempDir dir;
  const std::string temp = dir.str() + "/__tmp__.w1";
  bool locked_while_writing = false;
  auto size = writeQueueFile(
      dir.str(), "w1", writerTodo(), [&](const ByteSink& sink) -> Result<std::monostate> {
        const int fd = ::open(temp.c_str(), O_RDONLY | O_CLOEXEC);
        locked_while_writing =
            fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
        if (fd >= 0) {
          ::close(fd);
        }
        return sink("Subject: s\r\n\r\nbody\r\n");
      });
  REQUIRE(size.ok());
  CHECK(locked_while_writing);
  auto claim = claimQueueFile(dir.str(), "w1"); // released once in place
  CHECK(std::holds_alternative<QueueFileLock>(claim));
}

TEST_CASE("queue writer: claiming a file takes an exclusive flock") {
  TempDir dir;
  REQUIRE(writeQueueFile(dir.str(), "q", writerTodo(), chunks({"x\r\n"})).ok());

  auto first = claimQueueFile(dir.str(), "q");
  REQUIRE(std::holds_alternative<QueueFileLock>(first));
  auto& lock = std::get<QueueFileLock>(first);
  CHECK(lock.held());
  CHECK(lock.path() == dir.str() + "/q");
  auto header = readHeader(lock.fd());
  REQUIRE(header.ok());
  CHECK(header->todo.uuid == "U.1");

  // A second claim (another open file description, as another worker would have) fails.
  auto second = claimQueueFile(dir.str(), "q");
  REQUIRE(std::holds_alternative<ClaimError>(second));
  CHECK((std::get<ClaimError>(second).kind == ClaimFailure::Held));
  CHECK(std::get<ClaimError>(second).message.find("held by another process") != std::string::npos);

  // Another process cannot take it either. (After fork the child makes system calls only.)
  const std::string path = dir.str() + "/q";
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    const bool held = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::_exit(held ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WEXITSTATUS(status) == 0);

  // Moving the lock keeps it; releasing frees the file.
  QueueFileLock moved = std::move(lock);
  CHECK_FALSE(lock.held()); // NOLINT(bugprone-use-after-move)
  CHECK(moved.held());
  CHECK(std::holds_alternative<ClaimError>(claimQueueFile(dir.str(), "q")));
  moved.release();
  CHECK_FALSE(moved.held());
  {
    auto third = claimQueueFile(dir.str(), "q");
    CHECK(std::holds_alternative<QueueFileLock>(third));
  } // destroyed: unlocked
  CHECK(std::holds_alternative<QueueFileLock>(claimQueueFile(dir.str(), "q")));
}

TEST_CASE("queue writer: a dead owner's lock vanishes with it") {
  TempDir dir;
  REQUIRE(writeQueueFile(dir.str(), "q", writerTodo(), chunks({"x\r\n"})).ok());
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const std::string path = dir.str() + "/q";
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // System calls only after fork.
    const int fd = ::open(path.c_str(), O_RDONLY);
    const char c = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0 ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  ::close(ready[0]);
  CHECK(c == 'y');
  auto while_alive = claimQueueFile(dir.str(), "q");
  CHECK(std::holds_alternative<ClaimError>(while_alive));
  ::kill(child, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(std::holds_alternative<QueueFileLock>(claimQueueFile(dir.str(), "q")));
}

TEST_CASE("queue writer: claiming a file that is gone") {
  TempDir dir;
  auto gone = claimQueueFile(dir.str(), "nothing");
  REQUIRE(std::holds_alternative<ClaimError>(gone));
  CHECK((std::get<ClaimError>(gone).kind == ClaimFailure::Gone));
  // A symlink is refused (O_NOFOLLOW), not followed out of the queue.
  fs::create_symlink("/etc/hostname", dir.str() + "/link");
  auto link = claimQueueFile(dir.str(), "link");
  REQUIRE(std::holds_alternative<ClaimError>(link));
  CHECK((std::get<ClaimError>(link).kind == ClaimFailure::Error));
}
