// Workers are separate processes that attach the region by fd: here children of the test do,
// all adding the same new series at once and series of their own.
#include "common/metrics/labels.hpp"
#include "common/metrics/metrics.hpp"
#include "common/metrics/metrics_region.hpp"
#include "common/metrics/prometheus_text.hpp"
#include "common/metrics/series_table.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <map>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "family_lines.hpp"

using namespace upesi::metrics;
using upesi::metrics::test::familyLines;

namespace {

constexpr int kChildren = 4;
constexpr int kSharedKeys = 50;
constexpr int kRounds = 200;

std::string sharedKey(int key) {
  return labelPair("listener", fmt::format("shared-{}", key));
}
std::string ownKey(int child) {
  return labelPair("listener", fmt::format("child-{}", child));
}

// Runs in the child: attach, wait for the others, race. Returns the exit status.
int childMain(int fd, std::uint32_t slot, int child, std::atomic<int>* ready) {
  std::string error;
  auto attached = MetricsRegion::attach(fd, error);
  if (!attached) {
    return 2;
  }
  Metrics metrics(std::make_shared<MetricsRegion>(std::move(*attached)), slot);
  ready->fetch_add(1);
  while (ready->load() < kChildren) {
    ::sched_yield();
  }
  for (int round = 0; round < kRounds; ++round) {
    // Each child walks the shared keys from its own start, so creations collide.
    for (int i = 0; i < kSharedKeys; ++i) {
      const int key = (i + child * kSharedKeys / kChildren) % kSharedKeys;
      metrics.counter(MetricId::SmtpConnections, sharedKey(key)).add(1);
    }
    metrics.counter(MetricId::SmtpConnections, ownKey(child)).add(child + 1);
    metrics.histogram(MetricId::HookDuration, labelPair("hook", "rcpt")).observe(0.002);
    metrics.gauge(MetricId::SmtpConnectionsOpen).add(1);
  }
  return 0;
}

} // namespace

TEST_CASE("metrics across processes: children attach by fd, race on new series, exact totals") {
  std::string error;
  auto created = MetricsRegion::create({.slots = MetricsRegion::slotsForNodes(kChildren)}, error);
  REQUIRE_MESSAGE(created.has_value(), error);
  MetricsRegion& region = *created;
  void* shared = ::mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(shared != MAP_FAILED);
  auto* ready = new (shared) std::atomic<int>(0);

  std::map<pid_t, std::uint32_t> children;
  for (int child = 0; child < kChildren; ++child) {
    const std::uint32_t slot = region.acquireSlot().value();
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      _exit(childMain(region.fd(), slot, child, ready));
    }
    children[pid] = slot;
  }
  for (std::size_t waited = 0; waited < children.size(); ++waited) {
    int status = 0;
    const pid_t pid = ::wait(&status);
    REQUIRE(children.count(pid) == 1);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  ::munmap(shared, sizeof(std::atomic<int>));

  // Each racing key exists once in the table.
  std::map<std::string, int> entries;
  forEachSeries(region.view(), [&](const SeriesRef& series) {
    if (!series.fallback) {
      ++entries[std::string(series.labels)];
    }
  });
  CHECK(entries.size() == kSharedKeys + kChildren + 1);
  for (const auto& [labels, count] : entries) {
    CAPTURE(labels);
    CHECK(count == 1);
  }

  std::string expected = "# HELP upesi_smtp_connections_total SMTP connections accepted.\n"
                         "# TYPE upesi_smtp_connections_total counter\n";
  std::map<std::string, std::string> lines; // sorted by labels, as rendered
  for (int child = 0; child < kChildren; ++child) {
    lines[ownKey(child)] = fmt::format("{}", kRounds * (child + 1));
  }
  for (int key = 0; key < kSharedKeys; ++key) {
    lines[sharedKey(key)] = fmt::format("{}", kRounds * kChildren);
  }
  for (const auto& [labels, value] : lines) {
    expected += fmt::format("upesi_smtp_connections_total{{{}}} {}\n", labels, value);
  }
  const std::string live = renderPrometheus(region);
  CHECK(familyLines(live, "upesi_smtp_connections_total") == expected);
  const std::string hook = familyLines(live, "upesi_hook_duration_seconds");
  CHECK(hook.find(fmt::format("{{hook=\"rcpt\",le=\"0.001\"}} 0\n")) != std::string::npos);
  CHECK(hook.find(fmt::format("{{hook=\"rcpt\",le=\"0.0025\"}} {}\n", kRounds * kChildren)) !=
        std::string::npos);
  static_assert(kRounds * kChildren == 800); // 800 times 2 ms
  CHECK(hook.find("_sum{hook=\"rcpt\"} 1.6\n") != std::string::npos);
  CHECK(familyLines(live, "upesi_smtp_connections_open")
            .ends_with(fmt::format("open {}\n", kRounds * kChildren)));

  // The workers have exited: the master folds their slots, the totals stay, gauges go.
  for (const auto& [pid, slot] : children) {
    region.releaseSlot(slot);
  }
  const std::string retired = renderPrometheus(region);
  CHECK(familyLines(retired, "upesi_smtp_connections_total") == expected);
  CHECK(familyLines(retired, "upesi_hook_duration_seconds") == hook);
  CHECK(familyLines(retired, "upesi_smtp_connections_open").ends_with("open 0\n"));
}
