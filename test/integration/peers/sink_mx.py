#!/usr/bin/python3
"""A receiving MX for the outbound tests: aiosmtpd on 127.0.0.1:PORT that writes every message
it accepts to DIR/<n>.json ({"mail_from", "rcpts", "data"}). Behaviour per recipient local part:
  temp*   -> 451 at RCPT        perm*   -> 550 at RCPT
  tempdata* -> 451 after DATA (for the whole message)
A file DIR/fail-once makes the first DATA of a message get 451, then is removed.

usage: sink_mx.py PORT DIR [ADDRESS]   (ADDRESS defaults to 127.0.0.1)

Optional, from the environment: SINK_TLS_CERT/SINK_TLS_KEY offer STARTTLS with that
certificate (SINK_TLS_MAX=TLSv1_1 caps the version so that a modern client's handshake fails);
SINK_AUTH=user:password requires AUTH. Each message records "tls" and "auth" too.
SINK_EXTENSIONS=DSN,MT-PRIORITY,REQUIRETLS (any of them) advertises those extensions and takes
their MAIL/RCPT parameters. Every message records "mail_args" and "rcpt_args": the parameters
as they came on MAIL and on each RCPT.
"""
import json
import os
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

EXTENSIONS = [e for e in os.environ.get("SINK_EXTENSIONS", "").split(",") if e]
# The parameters each extension brings; aiosmtpd refuses any it does not know.
EXTENSION_PARAMS = {"DSN": ("RET", "ENVID", "NOTIFY", "ORCPT"), "MT-PRIORITY": ("MT-PRIORITY",),
                    "REQUIRETLS": ("REQUIRETLS",)}
TAKEN = {p for e in EXTENSIONS for p in EXTENSION_PARAMS.get(e, ())}


def split_params(arg):
    """'FROM:<a@b> SIZE=1 RET=HDRS' -> ('FROM:<a@b> SIZE=1', 'SIZE=1 RET=HDRS')."""
    path_end = arg.find(">") + 1 if ">" in arg else len(arg.split(" ")[0])
    words = arg[path_end:].split()
    kept = [w for w in words if w.split("=")[0].upper() not in TAKEN]
    return " ".join([arg[:path_end]] + kept), " ".join(words)


class RecordingSMTP(SMTP):
    async def smtp_MAIL(self, arg):
        if arg:
            arg, self.session.mail_args = split_params(arg)
            self.session.rcpt_args = []
        return await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        if arg:
            arg, args = split_params(arg)
            self.session.rcpt_args = getattr(self.session, "rcpt_args", []) + [args]
        return await super().smtp_RCPT(arg)


class RecordingController(Controller):
    def factory(self):
        return RecordingSMTP(self.handler, **self.SMTP_kwargs)


class Handler:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # One EHLO per connection: the count tells how many connections were opened.
        self.ehlos = getattr(self, "ehlos", 0) + 1
        with open(os.path.join(self.out, "ehlo-count"), "w") as f:
            f.write(str(self.ehlos))
        session.host_name = hostname
        return responses[:-1] + ["250-" + e for e in EXTENSIONS] + responses[-1:]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("tempdata"):
            envelope.rcpt_tos.append(address)
            return "250 OK"
        if local.startswith("temp"):
            return "451 4.3.0 try again later"
        if local.startswith("perm"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        once = os.path.join(self.out, "fail-once")
        if os.path.exists(once):
            os.unlink(once)
            return "451 4.3.0 not this time"
        if any(r.split("@")[0].startswith("tempdata") for r in envelope.rcpt_tos):
            return "451 4.3.0 come back later"
        self.count += 1
        path = os.path.join(self.out, "%d-%d.json" % (time.time_ns(), self.count))
        with open(path + ".tmp", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpts": envelope.rcpt_tos,
                       "helo": session.host_name, "tls": session.ssl is not None,
                       "auth": session.authenticated,
                       "mail_args": getattr(session, "mail_args", ""),
                       "rcpt_args": getattr(session, "rcpt_args", []),
                       "data": envelope.original_content.decode("utf-8", "replace")}, f)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 accepted"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    address = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    kwargs = {}
    if os.environ.get("SINK_TLS_CERT"):
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.environ["SINK_TLS_CERT"], os.environ["SINK_TLS_KEY"])
        if os.environ.get("SINK_TLS_MAX"):
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = getattr(ssl.TLSVersion, os.environ["SINK_TLS_MAX"])
            context.set_ciphers("ALL:@SECLEVEL=0")
        kwargs["tls_context"] = context
    if os.environ.get("SINK_AUTH"):
        user, password = os.environ["SINK_AUTH"].split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            from aiosmtpd.smtp import AuthResult, LoginPassword
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    controller = RecordingController(Handler(out), hostname=address, port=port, **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # runs until the test closes our stdin or kills us
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
