#!/usr/bin/python3
"""An MX whose reply to each final dot takes DELAY seconds, as a distant or busy server's does,
and that records whether the client's next MAIL FROM had already come when it answered (a
client pipelining the next message behind the dot, RFC 2920 3.1).

usage: slow_dot_mx.py PORT DIR [DELAY [GREETING_DELAY]]

GREETING_DELAY (default 0) delays the greeting, as a distant server's connection setup costs
several round trips.

Offers PIPELINING; accepts every MAIL and RCPT. After every message it rewrites DIR/stats.json:
{"connections": N, "messages": N, "pipelined": N, "open": N, "most_open": N} (pipelined:
messages whose dot reply found the next MAIL FROM already received; most_open: the most
connections open at once). Prints "ready" once listening.
"""
import asyncio
import json
import os
import sys

PORT, OUT = int(sys.argv[1]), sys.argv[2]
DELAY = float(sys.argv[3]) if len(sys.argv) > 3 else 0.3
GREETING_DELAY = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
stats = {"connections": 0, "messages": 0, "pipelined": 0, "open": 0, "most_open": 0}


def save():
    tmp = os.path.join(OUT, ".stats.json")
    with open(tmp, "w") as f:
        json.dump(stats, f)
    os.replace(tmp, os.path.join(OUT, "stats.json"))


async def session(reader, writer):
    stats["connections"] += 1
    stats["open"] += 1
    stats["most_open"] = max(stats["most_open"], stats["open"])
    if GREETING_DELAY > 0:
        await asyncio.sleep(GREETING_DELAY)
    writer.write(b"220 slow-dot ESMTP\r\n")
    buffered = b""

    async def line():
        nonlocal buffered
        while b"\r\n" not in buffered:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError
            buffered += chunk
        head, _, buffered = buffered.partition(b"\r\n")
        return head

    try:
        while True:
            cmd = await line()
            verb = cmd[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-slow-dot\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                writer.write(b"250 ok\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go\r\n")
                await writer.drain()
                while await line() != b".":
                    pass
                await writer.drain()
                await asyncio.sleep(DELAY)
                # What came during the wait is in the socket or already read.
                try:
                    more = await asyncio.wait_for(reader.read(65536), 0.001)
                except asyncio.TimeoutError:
                    more = b""
                buffered += more
                stats["messages"] += 1
                if buffered.upper().startswith(b"MAIL FROM"):
                    stats["pipelined"] += 1
                save()
                writer.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"502 what\r\n")
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    stats["open"] -= 1
    save()
    writer.close()


async def main():
    os.makedirs(OUT, exist_ok=True)
    save()
    server = await asyncio.start_server(session, "127.0.0.1", PORT)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    # Ends when the test closes our stdin.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


asyncio.run(main())
