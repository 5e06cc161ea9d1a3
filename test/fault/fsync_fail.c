/* An LD_PRELOAD shim for the fault-injection tests: fsync and fdatasync fail with EIO while the
 * file named by UPESI_FAIL_FSYNC_FILE exists, so a test turns the fault on and off by creating
 * and removing that file. Its content narrows the fault: "file" fails only regular files,
 * "dir" only directories, anything else both; a number after the word is how many milliseconds
 * the failing call takes first (a dying disk is slow too). Without the trigger the calls go to
 * the kernel. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int should_fail(int fd) {
  const char* trigger = getenv("UPESI_FAIL_FSYNC_FILE");
  if (trigger == NULL || *trigger == '\0') {
    return 0;
  }
  int tfd = open(trigger, O_RDONLY | O_CLOEXEC);
  if (tfd < 0) {
    return 0;
  }
  char what[32] = {0};
  ssize_t n = read(tfd, what, sizeof what - 1);
  close(tfd);
  if (n < 0) {
    n = 0;
  }
  what[n] = '\0';
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return 1;
  }
  if ((strncmp(what, "file", 4) == 0 && !S_ISREG(st.st_mode)) ||
      (strncmp(what, "dir", 3) == 0 && !S_ISDIR(st.st_mode))) {
    return 0;
  }
  const char* delay = strchr(what, ' ');
  long ms = delay != NULL ? strtol(delay + 1, NULL, 10) : 0;
  if (ms > 0) {
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
  }
  return 1;
}

int fsync(int fd) {
  if (should_fail(fd)) {
    errno = EIO;
    return -1;
  }
  return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd) {
  if (should_fail(fd)) {
    errno = EIO;
    return -1;
  }
  return (int)syscall(SYS_fdatasync, fd);
}
