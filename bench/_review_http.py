"""The HTTP side of bench/review_load.py: validators as plain HTTP/1.1 clients on the loopback
(cookies, CSRF token, no redirects followed) and the drive of V of them for C cycles."""

from __future__ import annotations

import http.client
import random
import re
import socket
import statistics
import threading
import time
import urllib.parse

PASSWORD = "bench-password-1"  # noqa: S105 (throw-away accounts on a loopback bench server)


class Browser:
    """One validator: cookies, CSRF token, plain HTTP/1.1 to 127.0.0.1 without redirects."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        t = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        ms = (time.perf_counter() - t) * 1000
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        conn.close()
        return resp.status, data.decode("utf-8", "replace"), ms

    def post(self, path: str, form: dict):
        return self.request(
            "POST", path, {**form, "csrfmiddlewaretoken": self.cookies["csrftoken"]}
        )

    def login(self, username: str) -> None:
        self.request("GET", "/accounts/login/")
        status, _, _ = self.post("/accounts/login/", {"username": username, "password": PASSWORD})
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login of {username} failed ({status})")


LEASE = re.compile(r'name="lease" value="(\d+)"')


def drive(port: int, n_validators: int, cycles: int, max_seconds: float, seed: int) -> dict:
    browsers = [Browser(port) for _ in range(n_validators)]
    for i, b in enumerate(browsers):
        b.login(f"bench-v{i}")
    gets: list[float] = []
    posts: list[float] = []
    judged = [0]
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    barrier = threading.Barrier(n_validators + 1)

    def worker(i: int, b: Browser) -> None:
        rng = random.Random(seed * 1000 + i)
        barrier.wait()
        for _ in range(cycles):
            if time.monotonic() > deadline:
                return
            status, html, ms_get = b.request("GET", "/review/")
            m = LEASE.search(html)
            with lock:
                gets.append(ms_get)
            if status != 200 or m is None:
                return  # nothing left for this validator
            status, _, ms_post = b.post(
                "/review/judge/", {"lease": m.group(1), "slot": rng.randint(0, 3)}
            )
            with lock:
                posts.append(ms_post)
                if status == 302:
                    judged[0] += 1
                else:
                    errors.append(str(status))

    threads = [threading.Thread(target=worker, args=(i, b)) for i, b in enumerate(browsers)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(max_seconds + 120)
    wall = time.perf_counter() - t0
    return {
        "get_p50": _pct(gets, 50),
        "get_p95": _pct(gets, 95),
        "post_p50": _pct(posts, 50),
        "post_p95": _pct(posts, 95),
        "judgements": judged[0],
        "per_s": judged[0] / wall if wall else 0.0,
        "wall_s": wall,
        "errors": len(errors),
    }


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else xs[0]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
