"""The karma plugin on two nodes sharing one redis-server: a connection that talks before the
greeting scores badly on node A and is refused at DATA; its IP's history, kept in Redis, then
makes node B refuse the same IP's polite connection, while another IP passes."""
import socket
import time

from redis_nodes import nodes, redis, send  # noqa: F401 (nodes and redis are fixtures)

KARMA_INI = """[thresholds]
negative=-2
positive=2
[deny]
hooks=data
message=bad karma {score}
[skip]
private_ip=false
[tarpit]
max=0
[awards]
early_talker=-3
[result_awards]
001 = karma | history | lt | 0 | -5 | IP reputation is poor
"""


class Raw:
    def __init__(self, port, source):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20,
                                             source_address=(source, 0))
        self.buffer = b""

    def reply(self):
        """The next whole reply: (code, its last line)."""
        while True:
            lines = self.buffer.split(b"\r\n")
            for i, line in enumerate(lines[:-1]):
                if len(line) >= 4 and line[3:4] == b" ":
                    self.buffer = b"\r\n".join(lines[i + 1:])
                    return int(line[:3]), line.decode()
            chunk = self.sock.recv(4096)
            assert chunk, "closed: %r" % self.buffer
            self.buffer += chunk

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()


def test_history_from_one_node_decides_on_the_other(nodes, redis):
    a, b = nodes(["karma"], {"karma.ini": KARMA_INI})
    rude = Raw(a.port, "127.0.0.2")
    rude.sock.sendall(b"EHLO rude.example\r\n")  # before the greeting
    assert rude.reply()[0] == 220
    assert rude.reply()[0] == 250
    assert rude.cmd("MAIL FROM:<s@client.example>")[0] == 250
    assert rude.cmd("RCPT TO:<user@example.com>")[0] == 250
    code, line = rude.cmd("DATA")
    assert code == 554 and "bad karma -3" in line, line
    rude.cmd("QUIT")
    rude.sock.close()
    assert a.wait_log("score -3")
    key = "karma|127.0.0.2"
    for _ in range(100):
        if redis.cli("HGET", key, "bad").strip() == "1":
            break
        time.sleep(0.05)
    assert redis.cli("HGET", key, "bad").strip() == "1"
    assert redis.cli("HGET", key, "connections").strip() == "1"
    assert 0 < int(redis.cli("TTL", key)) <= 60 * 86400

    # A polite connection from the same IP, on the other node: its history condemns it.
    polite = Raw(b.port, "127.0.0.2")
    assert polite.reply()[0] == 220
    assert polite.cmd("EHLO polite.example")[0] == 250
    assert polite.cmd("MAIL FROM:<s@client.example>")[0] == 250
    assert polite.cmd("RCPT TO:<user@example.com>")[0] == 250
    code, line = polite.cmd("DATA")
    assert code == 554 and "bad karma -5" in line, line
    polite.cmd("QUIT")
    # Another IP has no history: it passes.
    assert send(b.port, source="127.0.0.3") == (250, 250)
