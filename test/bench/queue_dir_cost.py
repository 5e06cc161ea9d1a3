#!/usr/bin/env python3
"""What a directory of a million files costs the file system alone, without any server: the
life of a queue file (create "__tmp__.NAME" with O_EXCL, write, fsync, close, rename to NAME,
fsync the directory, then unlink, as a delivery does) done by several threads at once, in an
empty directory and in one holding --files other files, round by round; and in the full one
again with the temporary file made in a subdirectory, so that only the rename and the unlink
touch the big directory.

    /usr/bin/python3 test/bench/queue_dir_cost.py [--files 1000000] [--threads 10]
                     [--messages 3000] [--rounds 4]

Prints files/s and CPU ms per file (this process, kernel time included) for each directory,
median (min-max), and their ratio. backlog.py measures Upesi with a million deferred files in
its queue directory; this separates what the directory itself costs. The directories go in
TMPDIR (refused on tmpfs); on this machine run it on a journaled ext4 as the comparison does:
`/usr/bin/python3 test/bench/scratch_fs.py /usr/bin/python3 test/bench/queue_dir_cost.py`.
"""
import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import machine_line, median_range, pin_cpus, refuse_memory_fs  # noqa: E402

BODY = b"x" * 1500


def file_lives(directory, threads, count, temp_dir=None):
    """count files through their life in `directory` by `threads` threads, their temporary
    files in `temp_dir` (else in `directory`): (files/s, CPU ms per file)."""
    dir_fd = os.open(directory, os.O_RDONLY)
    taken = iter(range(count))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                n = next(taken, None)
            if n is None:
                return
            name = os.path.join(directory, "%d_0_%d_new%d" % (time.time_ns(), os.getpid(), n))
            tmp = os.path.join(temp_dir or directory, "__tmp__." + os.path.basename(name))
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.write(fd, BODY)
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, name)
            os.fsync(dir_fd)
            os.unlink(name)

    cpu0, t0 = time.process_time(), time.monotonic()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    os.close(dir_fd)
    return count / wall, cpu * 1000 / count


def fill(directory, files):
    for i in range(files):
        fd = os.open(os.path.join(directory, "1765000000000_1_%d_old%07d_1_host" % (i % 97, i)),
                     os.O_CREAT | os.O_WRONLY, 0o600)
        os.write(fd, BODY)
        os.close(fd)
    os.sync()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=1000000)
    ap.add_argument("--threads", type=int, default=10)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    refuse_memory_fs(tempfile.gettempdir())
    pin_cpus()
    work = pathlib.Path(tempfile.mkdtemp(prefix="upesi-queue-dir-"))
    try:
        empty, full = work / "empty", work / "full"
        empty.mkdir()
        full.mkdir()
        t0 = time.monotonic()
        fill(full, args.files)
        print("wrote %d files in %.0f s" % (args.files, time.monotonic() - t0), flush=True)
        apart = full / "tmp"
        apart.mkdir()
        results = {"empty": [], "full": [], "apart": []}
        for r in range(args.rounds):
            order = [("empty", empty, None), ("full", full, None), ("apart", full, apart)]
            for name, directory, temp_dir in order if r % 2 == 0 else order[::-1]:
                results[name].append(file_lives(directory, args.threads, args.messages,
                                                temp_dir))
        print("\nfile lives (create, write, fsync, rename, fsync dir, unlink), %d threads, "
              "%d per round, median (min-max) of %d rounds\n" % (args.threads, args.messages,
                                                                  args.rounds))
        print("| directory | files/s | CPU ms per file |\n|---|---|---|")
        for name, label in (("empty", "empty"), ("full", "%d files" % args.files),
                            ("apart", "%d files, temporary files apart" % args.files)):
            print("| %s | %s | %s |" % (label, median_range([x[0] for x in results[name]], "%.0f"),
                                        median_range([x[1] for x in results[name]], "%.3f")))
        print()
        for name in ("full", "apart"):
            rate = [f[0] / e[0] for e, f in zip(results["empty"], results[name])]
            cpu = [f[1] / e[1] for e, f in zip(results["empty"], results[name])]
            print("%s / empty, paired by round: files/s %s, CPU per file %s" % (
                name, median_range(rate, "%.2fx"), median_range(cpu, "%.2fx")))
        print()
        print(machine_line())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
