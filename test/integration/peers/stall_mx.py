#!/usr/bin/python3
"""An MX that takes the first message and never answers its final dot (the delivering process
is then killed by the test); every later connection is served normally and the messages are
written to DIR/<n>.eml.  usage: stall_mx.py PORT DIR"""
import os
import socket
import sys
import threading


def serve(conn, stall, out, counter):
    f = conn.makefile("rb")
    conn.sendall(b"220 stall.test ESMTP\r\n")
    data = None
    while True:
        line = f.readline()
        if not line:
            return
        verb = line[:4].upper()
        if data is not None:
            if line == b".\r\n":
                if stall:
                    threading.Event().wait(3600)  # never answer
                    return
                counter[0] += 1
                with open(os.path.join(out, "%d.eml" % counter[0]), "wb") as m:
                    m.write(b"".join(data))
                data = None
                conn.sendall(b"250 2.0.0 kept\r\n")
            else:
                data.append(line)
            continue
        if verb in (b"EHLO", b"HELO"):
            conn.sendall(b"250 stall.test\r\n")
        elif verb == b"DATA":
            data = []
            conn.sendall(b"354 go\r\n")
        elif verb == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            return
        else:
            conn.sendall(b"250 ok\r\n")


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    print("ready", flush=True)
    first = [True]
    counter = [0]
    while True:
        conn, _ = srv.accept()
        stall, first[0] = first[0], False
        threading.Thread(target=serve, args=(conn, stall, out, counter), daemon=True).start()


if __name__ == "__main__":
    main()
