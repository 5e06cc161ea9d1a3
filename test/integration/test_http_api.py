"""The HTTP API under /api/v1/ (http.ini token required), driven by curl: the queue listed and
counted as `upesi --qlist/--qstat --json` print it, a message deleted as --qdelete does, a flush
that reaches every worker, and mail injected as JSON that arrives at a loopback aiosmtpd MX."""
import json
import os
import time

import pytest

from conftest import free_port, run_upesi
from test_http import curl, http_ini
from test_outbound import mx, queue_files, received  # noqa: F401 (mx is a fixture)
from test_queue_cli import LL3, P6M, copy_fixtures, held

TOKEN = "api-test-token"


@pytest.fixture
def api(start_server, mx):  # noqa: F811 (mx is a fixture)
    """start(nodes=0, token=TOKEN, outbound="") -> (server, http port, (mx port, received dir)).
    Outbound mail goes to the aiosmtpd MX (get_mx of the scripted route plugin); a temporary
    failure is retried after an hour, so a deferred message stays until a flush."""
    mx_port, out = mx

    def start(nodes=0, token=TOKEN, outbound=""):
        port = free_port()
        keys = {"token": token} if token else {}
        files = {
            "http.ini": http_ini(port, **keys),
            "route.ini": "[get_mx]\ncode=OK\nmsg=127.0.0.1:%d\n" % mx_port,
            "outbound.ini": "[main]\ntemp_fail_intervals=1h\nscan_interval=1\n" + outbound,
        }
        server = start_server(plugins=["route"], so=["route"], files=files,
                              smtp={"nodes": nodes})
        return server, port, (mx_port, out)
    return start


def call(port, method, path, body=None, token=TOKEN, headers=False):
    """(status, JSON answer) of one request; with headers=True also the response header."""
    args = ["-X", method, "-w", "\n%{http_code}"]
    if headers:
        args.append("-i")
    if token is not None:
        args += ["-H", "Authorization: Bearer " + token]
    if body is not None:
        data = body if isinstance(body, str) else json.dumps(body)
        args += ["-H", "Content-Type: application/json", "--data-binary", data]
    r = curl(*args, "http://127.0.0.1:%d%s" % (port, path))
    assert r.returncode == 0, r.stderr
    text, code = r.stdout.rsplit("\n", 1)
    if headers:
        head, text = text.split("\n\n", 1)  # text mode: CRLF reads as LF
        return int(code), json.loads(text), head
    return int(code), json.loads(text)


def upesi_json(install, *args):
    r = run_upesi("-c", str(install), *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def inject(port, **fields):
    body = {"from": "app@api.example", "to": ["bob@example.net"],
            "headers": {"Subject": "from the API"}, "body": "hello\n"}
    body.update(fields)
    return call(port, "POST", "/api/v1/inject", {k: v for k, v in body.items() if v is not None})


def test_a_bearer_token_is_required(api):
    server, port, _ = api()
    for token in (None, "wrong-token"):
        r = curl("-o", "/dev/null", "-w", "%{http_code}",
                 *(["-H", "Authorization: Bearer " + token] if token else []),
                 "http://127.0.0.1:%d/api/v1/queue" % port)
        assert r.stdout == "401"
    status, answer = call(port, "GET", "/api/v1/queue/stats", token="wrong-token")
    assert status == 401 and answer == {"error": "a bearer token is required"}
    assert call(port, "GET", "/api/v1/queue") == (
        200, {"messages": [], "total": 0, "truncated": False})


def test_no_token_configured_means_403(api):
    # allow= alone never opens the API.
    server, port, _ = api(token=None)
    status, answer = call(port, "GET", "/api/v1/queue", token=None)
    assert status == 403
    assert "token" in answer["error"] and "http.ini" in answer["error"]
    assert call(port, "POST", "/api/v1/inject", {}, token=None)[0] == 403


def test_unknown_paths_and_wrong_methods_answer_json(api):
    server, port, _ = api()
    status, answer = call(port, "GET", "/api/v1/nothing")
    assert status == 404 and "error" in answer
    status, answer, head = call(port, "GET", "/api/v1/inject", headers=True)
    assert status == 405 and "error" in answer
    assert "Allow: POST" in head and "Content-Type: application/json" in head
    assert call(port, "POST", "/api/v1/queue")[0] == 405
    assert call(port, "GET", "/api/v1/queue/flush")[0] == 405
    assert call(port, "GET", "/api/v1/queue/SOMEID")[0] == 405
    assert call(port, "GET", "/api/v1/queue?limit=0")[0] == 400
    assert call(port, "GET", "/api/v1/queue?limit=100001")[0] == 400
    assert call(port, "GET", "/api/v1/queue?limit=x")[0] == 400


def test_bad_inject_requests_are_400_and_queue_nothing(api, install):
    server, port, _ = api()
    cases = [
        ('{"from": "a@b.example", "to": [', "not JSON"),
        ('["a@b.example"]', "JSON object"),
        ({"from": "a@b.example", "message": "x"}, "\"to\" is missing"),
        ({"from": "a@b.example", "to": [], "message": "x"}, "non-empty array"),
        ({"from": "a@b.example", "to": ["not an address"], "message": "x"}, "to[0]"),
        ({"from": "a@@b", "to": ["b@x.example"], "message": "x"}, "\"from\""),
        ({"from": "", "to": ["b@x.example"], "headers": {"Subject": "a\r\nBcc: c@y.example"},
          "body": "x"}, "CR, LF"),
        ({"from": "", "to": ["b@x.example"], "message": "x", "notes": []}, "\"notes\""),
        ({"from": "", "to": ["b@x.example"]}, "either"),
    ]
    for body, error in cases:
        status, answer = call(port, "POST", "/api/v1/inject", body)
        assert status == 400, body
        assert error in answer["error"], (body, answer)
    assert queue_files(install) == []


def test_injected_mail_arrives_at_the_mx(api, install):
    server, port, (_, out) = api()
    status, answer = inject(port, headers=[["Subject", "from the API"], ["X-Tag", "t1"]],
                            body="line one\n.dot line\n", notes={"outbound_helo": "api.example"})
    assert status == 201, answer
    assert answer["queued"] is True
    assert answer["ids"] == [answer["id"]]
    assert answer["message"].startswith("Message Queued (")
    [msg] = received(out)
    assert msg["mail_from"] == "app@api.example"
    assert msg["rcpts"] == ["bob@example.net"]
    assert msg["helo"] == "api.example"  # the notes reach the outbound hooks
    header, body = msg["data"].split("\r\n\r\n", 1)
    lines = header.split("\r\n")
    # As a plugin's send_email: our Received first, a Message-Id and a Date added.
    assert lines[0].startswith("Received: (Upesi outbound); ")
    assert lines[1:3] == ["Subject: from the API", "X-Tag: t1"]
    assert any(line.startswith("Message-Id: <") for line in lines)
    assert any(line.startswith("Date: ") for line in lines)
    assert body == "line one\r\n.dot line\r\n"
    assert server.wait_log("HTTP API: inject from 127.0.0.1 queued as %s" % answer["id"])


def test_a_whole_message_from_the_null_sender_to_two_domains(api):
    server, port, (_, out) = api()
    status, answer = inject(port, **{"from": "", "headers": None, "body": None,
                                     "to": ["bob@example.net", "carol@other.example"],
                                     "message": "Subject: whole\nMessage-Id: <m1@api.example>\n"
                                                "\nbody\n"})
    assert status == 201, answer
    assert len(answer["ids"]) == 2 and answer["id"] == answer["ids"][0]  # one file per domain
    msgs = received(out, want=2)
    assert sorted(r for m in msgs for r in m["rcpts"]) == ["bob@example.net",
                                                           "carol@other.example"]
    for m in msgs:
        assert m["mail_from"] in ("", "<>")  # aiosmtpd records the null path either way
        assert "\r\nMessage-Id: <m1@api.example>\r\n" in m["data"]  # kept, not added twice
        assert m["data"].count("Message-Id:") == 1


def test_deferred_mail_listed_counted_and_deleted(api, install):
    server, port, _ = api()
    status, first = inject(port, to=["temp-a@example.net"])
    assert status == 201
    status, second = inject(port, to=["temp-b@other.example"])
    assert status == 201
    assert server.wait_log("deferred 1 recipient(s) for 3600 s")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, listed = call(port, "GET", "/api/v1/queue")
        if all(m["attempts"] == 1 for m in listed["messages"]) and listed["total"] == 2:
            break
        time.sleep(0.1)
    assert status == 200 and listed["total"] == 2 and listed["truncated"] is False
    # The very JSON the queue commands print.
    assert listed["messages"] == upesi_json(install, "--qlist")
    ids = [m["id"] for m in listed["messages"]]
    assert [i.split(".")[0] for i in ids] == [first["id"].split(".")[0],
                                             second["id"].split(".")[0]]
    assert listed["messages"][0]["rcpt_to"] == ["<temp-a@example.net>"]
    status, stats = call(port, "GET", "/api/v1/queue/stats")
    assert status == 200
    cli_stats = upesi_json(install, "--qstat")
    assert list(stats) == list(cli_stats) and stats == cli_stats
    assert stats["total"] == 2 and stats["deferred"] == 2
    assert stats["domains"] == {"example.net": 1, "other.example": 1}
    status, one = call(port, "GET", "/api/v1/queue?limit=1")
    assert status == 200 and one["truncated"] is True and one["total"] == 2
    assert one["messages"] == listed["messages"][:1]

    status, answer = call(port, "DELETE", "/api/v1/queue/" + ids[0])
    assert status == 200, answer
    assert answer["id"] == ids[0] and answer["deleted"] == listed["messages"][0]["file"]
    status, answer = call(port, "DELETE", "/api/v1/queue/" + ids[0])
    assert status == 404 and "no queued message" in answer["error"]
    assert [p.name for p in queue_files(install)] == [listed["messages"][1]["file"]]
    assert call(port, "GET", "/api/v1/queue/stats")[1]["total"] == 1


def test_delete_of_a_message_being_delivered_is_409(api, install):
    server, port, _ = api(outbound="disabled=true\n")
    q = copy_fixtures(install, names=(LL3, P6M))
    fd = held(q / P6M)  # as a delivering worker holds it
    try:
        status, answer = call(port, "DELETE", "/api/v1/queue/P6Ml1T.2")
        assert status == 409 and "busy: being delivered" in answer["error"]
        assert P6M in os.listdir(q)
    finally:
        os.close(fd)
    assert call(port, "DELETE", "/api/v1/queue/LL3BWF")[0] == 200  # the uid alone selects it
    assert call(port, "DELETE", "/api/v1/queue/" + P6M)[0] == 200  # so does the file name
    assert queue_files(install) == []


def test_flush_reaches_every_worker(api, install):
    server, port, (_, out) = api(nodes=2)
    server.wait_workers(2)
    assert server.wait_log("Upesi ready")
    (out / "fail-once").write_text("")  # the first DATA gets 451: deferred for an hour
    status, answer = inject(port)
    assert status == 201
    assert server.wait_log("deferred 1 recipient(s) for 3600 s")
    time.sleep(0.5)
    assert received(out, want=1, timeout=0.2) == []
    status, answer = call(port, "POST", "/api/v1/queue/flush")
    assert (status, answer) == (202, {"flushing": True})
    assert server.wait_log("asks (HTTP API): every worker flushes")
    [msg] = received(out, timeout=10)
    assert msg["rcpts"] == ["bob@example.net"]


def test_flush_in_a_single_process(api):
    server, port, _ = api()
    assert call(port, "POST", "/api/v1/queue/flush") == (202, {"flushing": True})
    assert server.wait_log("HTTP API: 127.0.0.1 asked for an outbound queue flush")
