"""A battery of bad requests against `sable serve` (demo model, with an API
key): each gets the right status and an OpenAI error body
{"error": {"message", "type", "param", "code"}}, no 5xx for a client's
mistake, and the server keeps serving."""
from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from conftest import DEMO_NAME
from sable_server import SableServer, BINARY

KEY = "bad-requests-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MSGS = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def server():
    with SableServer("--api-key", KEY, "--served-model-name", DEMO_NAME, "--max-model-len", "256",
                     "--http-header-timeout", "1", "--max-request-body-bytes", str(8 << 20)) as s:
        yield s


def chat(**kw):
    body = {"model": DEMO_NAME, "messages": MSGS, "max_tokens": 2}
    body.update(kw)
    return body


def comp(**kw):
    body = {"model": DEMO_NAME, "prompt": "hi", "max_tokens": 2}
    body.update(kw)
    return body


# (name, method, path, body (dict/list: JSON; str/bytes: raw), headers, expected status)
CASES = [
    ("malformed json", "POST", "/v1/chat/completions", b'{"messages": [', AUTH, 400),
    ("not json at all", "POST", "/v1/completions", b"hello there", AUTH, 400),
    ("json array body", "POST", "/v1/chat/completions", [1, 2, 3], AUTH, 400),
    ("empty body", "POST", "/v1/chat/completions", b"", AUTH, 400),
    ("invalid utf-8", "POST", "/v1/completions", b'{"prompt": "\xff\xfe\xfd", "max_tokens": 2}', AUTH, 400),
    ("deep nesting", "POST", "/v1/completions", b"[" * 5000 + b"]" * 5000, AUTH, 400),
    ("missing messages", "POST", "/v1/chat/completions", {"model": DEMO_NAME}, AUTH, 400),
    ("empty messages", "POST", "/v1/chat/completions", chat(messages=[]), AUTH, 400),
    ("messages not a list", "POST", "/v1/chat/completions", chat(messages="hi"), AUTH, 400),
    ("unknown role", "POST", "/v1/chat/completions", chat(messages=[{"role": "wizard", "content": "x"}]), AUTH, 400),
    ("no content", "POST", "/v1/chat/completions", chat(messages=[{"role": "user"}]), AUTH, 400),
    ("content is a number", "POST", "/v1/chat/completions", chat(messages=[{"role": "user", "content": 5}]), AUTH, 400),
    ("image content", "POST", "/v1/chat/completions",
     chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]), AUTH, 400),
    ("n=1000", "POST", "/v1/chat/completions", chat(n=1000), AUTH, 400),
    ("n=0", "POST", "/v1/chat/completions", chat(n=0), AUTH, 400),
    ("n is a string", "POST", "/v1/completions", comp(n="3"), AUTH, 400),
    ("negative temperature", "POST", "/v1/chat/completions", chat(temperature=-1), AUTH, 400),
    ("temperature is a string", "POST", "/v1/chat/completions", chat(temperature="hot"), AUTH, 400),
    ("top_p=0", "POST", "/v1/completions", comp(top_p=0), AUTH, 400),
    ("top_p=2", "POST", "/v1/completions", comp(top_p=2), AUTH, 400),
    ("top_k=-7", "POST", "/v1/completions", comp(top_k=-7), AUTH, 400),
    ("presence_penalty=5", "POST", "/v1/completions", comp(presence_penalty=5), AUTH, 400),
    ("max_tokens=-1", "POST", "/v1/chat/completions", chat(max_tokens=-1), AUTH, 400),
    ("max_tokens=0", "POST", "/v1/completions", comp(max_tokens=0), AUTH, 400),
    ("huge max_tokens", "POST", "/v1/chat/completions", chat(max_tokens=10**12), AUTH, 400),
    ("max_tokens beyond int64", "POST", "/v1/completions", comp(max_tokens=10**30), AUTH, 400),
    ("max_tokens is 1e400", "POST", "/v1/completions",
     b'{"prompt": "hi", "max_tokens": 1e400}', AUTH, 400),
    ("min_tokens > max_tokens", "POST", "/v1/completions", comp(min_tokens=5), AUTH, 400),
    ("top_logprobs=50", "POST", "/v1/chat/completions", chat(logprobs=True, top_logprobs=50), AUTH, 400),
    ("top_logprobs without logprobs", "POST", "/v1/chat/completions", chat(top_logprobs=2), AUTH, 400),
    ("completions logprobs=50", "POST", "/v1/completions", comp(logprobs=50), AUTH, 400),
    ("prompt too long (chat)", "POST", "/v1/chat/completions",
     chat(messages=[{"role": "user", "content": "hello " * 400}], max_tokens=None), AUTH, 400),
    ("prompt + max_tokens too long", "POST", "/v1/completions", comp(prompt=list(range(10, 210)), max_tokens=100),
     AUTH, 400),
    ("token id out of vocabulary", "POST", "/v1/completions", comp(prompt=[1, 2, 10**6]), AUTH, 400),
    ("negative token id", "POST", "/v1/completions", comp(prompt=[1, -2]), AUTH, 400),
    ("empty token list", "POST", "/v1/completions", comp(prompt=[]), AUTH, 400),
    ("mixed prompt list", "POST", "/v1/completions", comp(prompt=["a", 1]), AUTH, 400),
    ("prompt is a dict", "POST", "/v1/completions", comp(prompt={"a": 1}), AUTH, 400),
    ("missing prompt", "POST", "/v1/completions", {"model": DEMO_NAME}, AUTH, 400),
    ("stop is a number", "POST", "/v1/completions", comp(stop=5), AUTH, 400),
    ("logit_bias bad key", "POST", "/v1/completions", comp(logit_bias={"abc": 1}), AUTH, 400),
    ("stream_options without stream", "POST", "/v1/completions", comp(stream_options={"include_usage": True}),
     AUTH, 400),
    ("suffix", "POST", "/v1/completions", comp(suffix="end"), AUTH, 400),
    ("json_schema response_format with $ref", "POST", "/v1/chat/completions",
     chat(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#/a"}}}),
     AUTH, 400),
    ("seed is a string", "POST", "/v1/completions", comp(seed="abc"), AUTH, 400),
    ("priority without --scheduling-policy priority", "POST", "/v1/completions", comp(priority=5), AUTH, 400),
    ("tools not a list", "POST", "/v1/chat/completions", chat(tools="x"), AUTH, 400),
    ("untrusted request chat_template", "POST", "/v1/chat/completions", chat(chat_template="{{ messages }}"),
     AUTH, 400),
    ("chat_template is a number", "POST", "/v1/chat/completions", chat(chat_template=5), AUTH, 400),
    ("tokenize bad prompt", "POST", "/tokenize", {"prompt": 7}, AUTH, 400),
    ("detokenize bad tokens", "POST", "/detokenize", {"tokens": ["a"]}, AUTH, 400),
    ("unknown model", "POST", "/v1/chat/completions", chat(model="gpt-4o"), AUTH, 404),
    ("unknown model (completions)", "POST", "/v1/completions", comp(model="llama"), AUTH, 404),
    ("bad key", "POST", "/v1/chat/completions", chat(), {"Authorization": "Bearer nope"}, 401),
    ("missing key", "GET", "/v1/models", None, {}, 401),
    ("basic auth instead of bearer", "GET", "/v1/models", None, {"Authorization": f"Basic {KEY}"}, 401),
    ("wrong method", "GET", "/v1/chat/completions", None, AUTH, 405),
    ("wrong method (delete)", "DELETE", "/v1/completions", None, AUTH, 405),
    ("wrong method on /health", "POST", "/health", {}, {}, 405),
    ("unknown path", "POST", "/v1/embeddings_nope", chat(), AUTH, 404),
    ("unknown path (root)", "GET", "/", None, AUTH, 404),
]


@pytest.mark.parametrize("name,method,path,body,headers,status", CASES, ids=[c[0] for c in CASES])
def test_bad_request(server, name, method, path, body, headers, status):
    kw = {"headers": dict(headers), "timeout": 60}
    if isinstance(body, (dict, list)):
        kw["data"] = json.dumps({k: v for k, v in body.items() if v is not None} if isinstance(body, dict) else body)
        kw["headers"]["Content-Type"] = "application/json"
    elif body is not None:
        kw["data"] = body
        kw["headers"]["Content-Type"] = "application/json"
    r = requests.request(method, server.url(path), **kw)
    assert r.status_code == status, f"{name}: {r.status_code} {r.text[:300]}"
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"], err
    if status == 405:
        assert r.headers.get("allow")
    assert requests.get(server.url("/health"), timeout=10).status_code == 200


def test_battery_is_large_enough():
    assert len(CASES) >= 30


def _raw(server, data: bytes, read_timeout: float = 10.0) -> bytes:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def _status_and_error(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]


def test_ten_megabyte_body_gets_413(server):
    body = b'{"prompt": "' + b"a" * (10 << 20) + b'"}'
    r = requests.post(server.url("/v1/completions"), data=body, headers=dict(AUTH, **{"Content-Type": "application/json"}),
                      timeout=60)
    assert r.status_code == 413
    assert r.json()["error"]["message"]
    assert requests.get(server.url("/health"), timeout=10).status_code == 200


def test_slow_headers_are_cut_off(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    t0 = time.monotonic()
    try:
        s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")
        out = b""
        for _ in range(20):  # a header line every 0.25 s, never finishing
            time.sleep(0.25)
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
        s.settimeout(5)
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    assert time.monotonic() - t0 < 8
    status, err = _status_and_error(out)
    assert status == 408 and err["message"]
    assert requests.get(server.url("/health"), timeout=10).status_code == 200


def test_huge_header_gets_431(server):
    out = _raw(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    status, err = _status_and_error(out)
    assert status == 431 and err["message"]


def test_garbage_request_line_gets_400(server):
    status, err = _status_and_error(_raw(server, b"\x16\x03\x01\x02\x00 not http\r\n\r\n"))
    assert status == 400 and err["message"]


def test_no_internal_errors_logged(server):
    assert "internal error" not in server.log().lower()
    assert requests.get(server.url("/health"), timeout=10).status_code == 200
