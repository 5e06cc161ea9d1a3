"""A journaled ext4 for the servers' queues, made for one benchmark run and removed after it.

The queues of every server go where TMPDIR points. On a machine whose disk is an ext4 without a
journal, that measures the file system more than the servers: with no journal, ext4 skips
every inode freed in the last 60 to 300 seconds when it picks one for a new file (the check
that keeps a crash from reusing an inode still named on disk), reading an inode table block
for each. Once a round has deleted its thousands of queue files, each file the next round
creates costs a scan past them all: with 3,000 files deleted, 0.9 ms of kernel time per
message, rising round after round. A journal makes that check unneeded, and every distribution
installs ext4 with one, so the comparison runs there: an image file on the machine's disk,
attached to a loop device with direct I/O (its writes reach the disk, not the host's page
cache, and an fsync inside reaches the disk), made with mkfs.ext4's defaults (journal,
data=ordered) and inodes enough for the backlog benchmark's million files.

    with journaled_scratch() as tmpdir:  # root only
        ...  # run the benchmarks with TMPDIR=tmpdir

    test/bench/scratch_fs.py [COMMAND ...]  # makes one, runs COMMAND with TMPDIR on it (or
                                            # only checks it), removes it
"""
import contextlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

IMAGE_GB = 24
BYTES_PER_INODE = 4096


def journal_state(path):
    """ "journaled", "no journal", or "" (not ext4, or not known) for the file system of path:
    ext4's own answer in /sys/fs/ext4/DEVICE/journal_task ("<none>" without a journal)."""
    source = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", str(path)],
                            capture_output=True, text=True).stdout.split()
    if len(source) != 2 or source[1] != "ext4":
        return ""
    try:
        task = (pathlib.Path("/sys/fs/ext4") / os.path.basename(source[0]) /
                "journal_task").read_text().strip()
    except OSError:
        return ""
    return "no journal" if task == "<none>" else "journaled"


def _run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), (r.stderr or r.stdout).strip()))
    return r.stdout.strip()


@contextlib.contextmanager
def journaled_scratch(under="/var/tmp", size_gb=IMAGE_GB):
    """Makes a sparse image of size_gb under `under` (a directory on the disk), formats it
    ext4 and mounts it through a direct-I/O loop device; yields a world-writable directory on it
    (as /tmp is, so that postfix and exim reach their queues there). Unmounted, detached and
    deleted on the way out."""
    if os.geteuid() != 0:
        raise RuntimeError("a scratch file system needs root (losetup, mount)")
    for tool in ("losetup", "mkfs.ext4", "mount", "umount"):
        if not shutil.which(tool):
            raise RuntimeError("%s not found" % tool)
    base = pathlib.Path(tempfile.mkdtemp(prefix="upesi-bench-fs-", dir=under))
    base.chmod(0o755)  # the servers' own users pass through it
    image, mount = base / "queues.img", base / "mnt"
    mount.mkdir()
    device = None
    try:
        with open(image, "wb") as f:
            f.truncate(size_gb << 30)
        # Inode tables and journal written now, so that no lazy initialisation runs in the
        # background of the measurements.
        _run(["mkfs.ext4", "-q", "-F", "-i", str(BYTES_PER_INODE), "-E",
              "lazy_itable_init=0,lazy_journal_init=0", str(image)])
        device = _run(["losetup", "--find", "--show", "--direct-io=on", str(image)])
        _run(["mount", "-t", "ext4", device, str(mount)])
        tmpdir = mount / "tmp"
        tmpdir.mkdir()
        tmpdir.chmod(0o1777)
        yield tmpdir
    finally:
        if device:
            subprocess.run(["umount", str(mount)], capture_output=True, timeout=600)
            subprocess.run(["losetup", "-d", device], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def main():
    with journaled_scratch() as tmpdir:
        state = journal_state(tmpdir)
        print("%s: ext4, %s (%s)" % (tmpdir, state, _run(
            ["findmnt", "-n", "-o", "SOURCE,OPTIONS", "-T", str(tmpdir)])), flush=True)
        if state != "journaled":
            sys.exit("the scratch file system has no journal")
        if len(sys.argv) > 1:
            return subprocess.run(sys.argv[1:], env=dict(os.environ, TMPDIR=str(tmpdir))).returncode
        probe = tmpdir / "probe"
        with open(probe, "wb") as f:
            f.write(b"x" * 4096)
            os.fsync(f.fileno())
        probe.unlink()
        return 0


if __name__ == "__main__":
    sys.exit(main())
