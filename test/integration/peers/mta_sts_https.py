#!/usr/bin/python3
"""The HTTPS side of MTA-STS for the tests: serves /.well-known/mta-sts.txt for each
mta-sts.<domain> it is asked for (by the Host field) from DIR/<domain>.txt, as text/plain;
DIR/<domain>.redirect holds a URL to answer 301 with instead. Anything else is 404. Prints
"ready" once it listens; every request is appended to DIR/requests.log ("<host> <path>").

usage: mta_sts_https.py ADDRESS PORT CERT KEY DIR
"""
import http.server
import pathlib
import ssl
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        with open(DIR / "requests.log", "a") as log:
            log.write("%s %s\n" % (host, self.path))
        domain = host.removeprefix("mta-sts.")
        policy = DIR / (domain + ".txt")
        redirect = DIR / (domain + ".redirect")
        if self.path == "/.well-known/mta-sts.txt" and redirect.exists():
            self.send_response(301)
            self.send_header("Location", redirect.read_text().strip())
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path != "/.well-known/mta-sts.txt" or not host.startswith("mta-sts.") \
                or not policy.exists():
            body = b"not found\n"
            self.send_response(404)
        else:
            body = policy.read_bytes()
            self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


address, port, cert, key, DIR = (sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4],
                                 pathlib.Path(sys.argv[5]))
server = http.server.ThreadingHTTPServer((address, port), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()  # until the test closes our stdin
server.shutdown()
