"""OpenDKIM (Debian's opendkim) as a signing milter for the benchmarks: an RSA key made with
openssl, a config file of ours in the work directory, the filter in the foreground on a unix
socket or on a loopback TCP port, stopped again. Its CPU (all its threads: one process) is read
from /proc."""
import base64
import os
import socket
import subprocess
import time

from bench_common import tree_cpu_s


def make_key(workdir):
    """(path of a new RSA-2048 private key in PEM, the DKIM TXT record publishing it)."""
    key = workdir / "rsa.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(key)], check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return key, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


class OpenDkim:
    """Signs (Mode s, rsa-sha256, relaxed/relaxed, From oversigned) mail of `domain` from
    127.0.0.1 (its default InternalHosts). port=None: on a unix socket in workdir, as Debian
    configures it; else on 127.0.0.1:port. `milter` is the socket in Postfix's syntax
    (smtpd_milters, and Upesi's milter.ini)."""

    def __init__(self, workdir, key, domain, selector, port=None, name="opendkim"):
        self.name, self.port = name, port
        if port is None:
            self.path = workdir / (name + ".sock")
            listen, self.milter = "local:%s" % self.path, "unix:%s" % self.path
        else:
            listen, self.milter = "inet:%d@127.0.0.1" % port, "inet:127.0.0.1:%d" % port
        conf = workdir / (name + ".conf")
        conf.write_text(
            "Syslog no\nBackground no\nMode s\nDomain %s\nSelector %s\nKeyFile %s\n"
            "Canonicalization relaxed/relaxed\nSignatureAlgorithm rsa-sha256\n"
            "OversignHeaders From\nSocket %s\nPidFile %s\nUMask 000\n"
            # The key lies under a temporary directory, which /tmp makes "unsafe".
            "RequireSafeKeys false\n"
            % (domain, selector, key, listen, workdir / (name + ".pid")))
        os.chmod(key, 0o600)
        self.log_path = workdir / (name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["/usr/sbin/opendkim", "-f", "-x", str(conf)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid = self.proc.pid
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_listening(self):
        # A milter says nothing until spoken to: a connection accepted is enough.
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("opendkim exited with %s: %s" % (self.proc.returncode,
                                                                   self.log_tail()))
            try:
                if self.port is None:
                    with socket.socket(socket.AF_UNIX) as probe:
                        probe.connect(str(self.path))
                else:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("opendkim did not listen on %s" % self.milter) from None
                time.sleep(0.1)

    def cpu_s(self):
        return tree_cpu_s(self.pid)

    def log_tail(self, chars=2000):
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self.log.close()
