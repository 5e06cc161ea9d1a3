"""An open-loop SMTP load: messages arrive at Poisson times at a fixed mean rate, whether or not
the server keeps up, and each is timed from the end of its DATA (the final dot written) to the
server's reply, and from its arrival to that reply.

Messages go over persistent connections (EHLO once), at most one message in flight on each,
MAIL, RCPT and DATA pipelined as RFC 2920 allows; a message that arrives while every
connection is busy opens another, up to `connections`, else waits for the first that frees (its
arrival-to-reply time then shows the wait). Used by latency.py.
"""
import asyncio
import random
import time


class LoadResult:
    def __init__(self):
        self.dot_to_reply = []      # seconds, one per accepted message
        self.arrival_to_reply = []  # seconds, one per accepted message
        self.refused = 0            # messages whose MAIL, RCPT, DATA or dot was not accepted
        self.connections = 0
        self.offered = 0
        self.elapsed = 0.0


async def reply_code(reader):
    """One SMTP reply (all its lines); returns its code."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3])


class _Connection:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = cls(reader, writer)
        if await reply_code(reader) != 220:
            raise ConnectionError("no 220 greeting")
        writer.write(b"EHLO load.example\r\n")
        if await reply_code(reader) != 250:
            raise ConnectionError("EHLO refused")
        return conn

    async def send(self, envelope, body, arrival, result):
        w, r = self.writer, self.reader
        w.write(envelope)
        codes = [await reply_code(r) for _ in range(3)]
        if codes[0] != 250 or codes[1] not in (250, 251) or codes[2] != 354:
            result.refused += 1
            if codes[2] == 354:  # a server that took DATA anyway gets an empty message
                w.write(b".\r\n")
                await reply_code(r)
            w.write(b"RSET\r\n")
            await reply_code(r)
            return
        w.write(body)
        dot = time.perf_counter()
        code = await reply_code(r)
        done = time.perf_counter()
        if code != 250:
            result.refused += 1
            return
        result.dot_to_reply.append(done - dot)
        result.arrival_to_reply.append(done - arrival)

    async def close(self):
        try:
            self.writer.write(b"QUIT\r\n")
            await asyncio.wait_for(reply_code(self.reader), 5)
        except (OSError, ConnectionError, asyncio.TimeoutError):
            pass
        self.writer.close()


def message_body(size):
    line = b"x" * 78 + b"\r\n"
    text = b"Subject: latency\r\n\r\n" + line * max(1, size // len(line))
    return text + b".\r\n"


async def run(port, rate, duration, size=1000, connections=100, sender="sender@example.com",
              rcpt="user@example.com", seed=1):
    """Offers `rate` messages a second for `duration` seconds; waits for the last reply."""
    result = LoadResult()
    envelope = ("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (sender, rcpt)).encode()
    body = message_body(size)
    idle = []
    free = asyncio.Condition()
    opened = 0
    rng = random.Random(seed)
    tasks = []

    async def one(arrival):
        nonlocal opened
        async with free:
            while not idle and opened >= connections:
                await free.wait()
            conn = idle.pop() if idle else None
            if conn is None:
                opened += 1
        if conn is None:
            conn = await _Connection.open(port)
        try:
            await conn.send(envelope, body, arrival, result)
        finally:
            async with free:
                idle.append(conn)
                free.notify()

    start = time.perf_counter()
    t = start
    end = start + duration
    while True:
        t += rng.expovariate(rate)
        if t >= end:
            break
        delay = t - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        result.offered += 1
        tasks.append(asyncio.ensure_future(one(t)))
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - start
    result.connections = opened
    for conn in idle:
        await conn.close()
    return result


def percentile(values, p):
    """The p-th percentile (0..100) by the nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(p / 100.0 * len(ordered) + 0.5))))
    return ordered[rank - 1]


def offer(port, rate, duration, **kwargs):
    return asyncio.run(run(port, rate, duration, **kwargs))


async def _closed(port, seconds, connections, size, sender, rcpt):
    result = LoadResult()
    envelope = ("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (sender, rcpt)).encode()
    body = message_body(size)
    end = time.perf_counter() + seconds

    async def loop():
        conn = await _Connection.open(port)
        while time.perf_counter() < end:
            await conn.send(envelope, body, time.perf_counter(), result)
        await conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(connections)))
    result.elapsed = time.perf_counter() - start
    result.connections = connections
    return result


def saturate(port, seconds, connections=100, size=1000, sender="sender@example.com",
             rcpt="user@example.com"):
    """Closed loop: `connections` clients each send the next message as soon as the last one's
    reply came, for `seconds`; what the server completes is its maximum for this client."""
    return asyncio.run(_closed(port, seconds, connections, size, sender, rcpt))
