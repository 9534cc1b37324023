"""The web app of a labelling session (Starlette), and :func:`serve` (uvicorn + the worker).

The page is plain HTML and one small JavaScript file served by the app (nothing from the
internet); texts are inserted with ``textContent`` only, and the Content-Security-Policy
forbids inline scripts, so a text holding ``<script>`` is shown, never run.

Security
    The server binds to 127.0.0.1 by default. Any other host needs an access token (given
    with ``--token`` or generated and printed at start): requests without it get 401. The
    token travels once in the printed URL (``/?token=...``), then in an HttpOnly cookie, or
    in an ``Authorization: Bearer`` header. State-changing requests (POST) must carry the
    ``X-CSRF-Token`` header matching the page's ``skanchor_csrf`` cookie (SameSite=Strict)
    and, if the browser sends one, an ``Origin`` of the server itself; on the loopback
    address the ``Host`` header must name the loopback address (no DNS rebinding).

API (JSON)
    ``GET /api/session``, ``POST /api/next``, ``POST /api/label`` (item_id, label, note,
    request_id, wait_ms), ``POST /api/skip`` (item_id), ``POST /api/undo``,
    ``GET /api/progress``, ``POST /api/annotator`` (name), ``GET /api/health``.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from skanchor.label.db import Race
from skanchor.label.store import SEED_ANNOTATOR, Conflict, LabelStore
from skanchor.label.worker import WORKER_DB_ENV

__all__ = ["check_serving", "create_app", "serve"]

STATIC = Path(__file__).parent / "static"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
ANNOTATOR_COOKIE = "skanchor_annotator"
CSRF_COOKIE = "skanchor_csrf"
MAX_BODY = 64 * 1024
MAX_NOTE = 2000
_ANNOTATOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,63}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class BadRequest(Exception):
    """A request the app refuses with 400 and a one-line message."""


def _token_cookie(session_id: str) -> str:
    return f"skanchor_token_{session_id[:12]}"


class _Guard:
    """ASGI middleware: host check, access token, CSRF check, security headers."""

    def __init__(
        self, app: Any, *, token: str | None, allowed_hosts: list[str] | None, cookie: str
    ):
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts
        self.cookie = cookie

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse, RedirectResponse

        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                took = f"app;dur={1e3 * (time.perf_counter() - started):.1f}".encode()
                message["headers"] = [
                    *message.get("headers", []),
                    *_SECURITY_HEADERS,
                    (b"server-timing", took),  # the server's share of the wait
                ]
            await send(message)

        request = Request(scope)
        host = request.headers.get("host", "")
        hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0][1:]
        if self.allowed_hosts is not None and hostname not in self.allowed_hosts:
            await PlainTextResponse("400: invalid Host header", 400)(
                scope, receive, send_with_headers
            )
            return
        if self.token is not None:
            given = request.query_params.get("token")
            if request.url.path == "/" and given is not None and _same(given, self.token):
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(
                    self.cookie, self.token, httponly=True, samesite="strict", path="/"
                )
                await response(scope, receive, send_with_headers)
                return
            auth = request.headers.get("authorization", "")
            bearer = auth[7:] if auth.lower().startswith("bearer ") else None
            if not (
                _same(bearer, self.token) or _same(request.cookies.get(self.cookie), self.token)
            ):
                await PlainTextResponse(
                    "401: this session needs its access token: open the URL printed when "
                    "the server started, or send 'Authorization: Bearer TOKEN'",
                    401,
                    headers={"WWW-Authenticate": "Bearer"},
                )(scope, receive, send_with_headers)
                return
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            header = request.headers.get("x-csrf-token")
            cookie = request.cookies.get(CSRF_COOKIE)
            origin = request.headers.get("origin")
            expected = f"{request.url.scheme}://{host}"
            if not cookie or not _same(header, cookie) or (origin and origin != expected):
                await PlainTextResponse(
                    "403: cross-site request refused (missing or wrong X-CSRF-Token header or "
                    "Origin)",
                    403,
                )(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


def create_app(
    store: LabelStore,
    *,
    token: str | None = None,
    allowed_hosts: Sequence[str] | None = LOOPBACK,
) -> Any:
    """The Starlette app of ``store``'s session.

    Parameters
    ----------
    store : LabelStore
        The session.
    token : str, optional
        Access token every request must carry (see the module docstring); None: no token.
    allowed_hosts : sequence of str or None, default=LOOPBACK
        Host names the ``Host`` header may carry (default: the loopback names); None
        accepts any (token mode).
    """
    from sqlalchemy.exc import InterfaceError, OperationalError
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    page = (STATIC / "index.html").read_bytes()
    labels = store.labels

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status)

    def annotator_of(request: Request) -> str:
        name = request.cookies.get(ANNOTATOR_COOKIE, "")
        if not _ANNOTATOR.match(name) or name == SEED_ANNOTATOR:
            raise BadRequest("no annotator: open the page first (it sets the annotator cookie)")
        return name

    async def body_of(request: Request) -> dict:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise BadRequest(f"request body larger than {MAX_BODY} bytes")
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise BadRequest("request body is not JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("request body must be a JSON object")
        return data

    def item_id_of(data: dict) -> int:
        value = data.get("item_id")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadRequest(f"item_id must be a non-negative integer, got {value!r}")
        return value

    def handle(func: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            try:
                return await func(request)
            except BadRequest as exc:
                return error(400, str(exc))
            except Conflict as exc:
                return error(409, str(exc))
            except ValueError as exc:
                return error(400 if "does not exist" not in str(exc) else 404, str(exc))
            except (OperationalError, InterfaceError) as exc:  # the database is away
                return error(
                    503,
                    f"the session's database cannot be reached ({_db_reason(exc)}); try again: "
                    "a label sent again is never stored twice",
                )

        return endpoint

    def item_json(item: Any) -> dict | None:
        return None if item is None else item.to_json()

    async def index(request: Request) -> Response:
        response = Response(page, media_type="text/html; charset=utf-8")
        if not _ANNOTATOR.match(request.cookies.get(ANNOTATOR_COOKIE, "")):
            response.set_cookie(
                ANNOTATOR_COOKIE,
                f"annotator-{secrets.token_hex(3)}",
                httponly=True,
                samesite="strict",
                max_age=365 * 86400,
            )
        if not request.cookies.get(CSRF_COOKIE):
            response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(24), samesite="strict")
        return response

    async def session_info(request: Request) -> Response:
        cfg = store.config
        return JSONResponse(
            {
                "session_id": store.session_id,
                "labels": labels,
                "minority": cfg["minority"],
                "annotator": request.cookies.get(ANNOTATOR_COOKIE),
                "annotations_per_item": cfg["annotations_per_item"],
                "n_items": store.n_items,
                "lease_seconds": cfg["lease_seconds"],
                "model": {k: cfg[k] for k in ("filter", "strategy", "classifier", "retrain_every")},
                "stop": cfg["stop"],
            }
        )

    async def next_item(request: Request) -> Response:
        who = annotator_of(request)
        item = await run_in_threadpool(store.lease_next, who)
        return JSONResponse({"item": item_json(item)})

    async def label(request: Request) -> Response:
        who = annotator_of(request)
        data = await body_of(request)
        item_id = item_id_of(data)
        value = data.get("label")
        if not isinstance(value, str) or value not in labels:
            raise BadRequest(f"label {value!r} is not one of {', '.join(labels)}")
        note = data.get("note") or ""
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise BadRequest(f"note must be a text of at most {MAX_NOTE} characters")
        request_id = data.get("request_id")
        if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
            raise BadRequest("request_id must be 8-64 letters, digits, '-' or '_'")
        wait = data.get("wait_ms")
        if wait is not None and (isinstance(wait, bool) or not isinstance(wait, (int, float))):
            raise BadRequest(f"wait_ms must be a number, got {wait!r}")
        if wait is not None and not 0 <= wait < 3.6e6:
            wait = None

        def commit_then_next() -> tuple:  # two transactions, one trip to the thread pool
            done = store.add_label(
                who, item_id, value, request_id=request_id, note=note, wait_ms=wait
            )
            try:
                return done, store.lease_next(who), False
            except (Race, OperationalError, InterfaceError):  # the label is stored: say so
                return done, None, True

        (label_id, duplicate), following, pending = await run_in_threadpool(commit_then_next)
        answer = {"label_id": label_id, "duplicate": duplicate, "next": item_json(following)}
        if pending:  # no next item could be leased just now: the page asks /api/next
            answer["next_pending"] = True
        return JSONResponse(answer)

    async def skip(request: Request) -> Response:
        who = annotator_of(request)
        item_id = item_id_of(await body_of(request))

        def skip_then_next() -> Any:
            store.skip(who, item_id)
            return store.lease_next(who)

        following = await run_in_threadpool(skip_then_next)
        return JSONResponse({"next": item_json(following)})

    async def undo(request: Request) -> Response:
        who = annotator_of(request)
        item = await run_in_threadpool(store.undo, who)
        return JSONResponse({"item": item_json(item)})

    async def progress(request: Request) -> Response:
        who = request.cookies.get(ANNOTATOR_COOKIE)
        return JSONResponse(await run_in_threadpool(store.progress, who))

    async def set_annotator(request: Request) -> Response:
        name = (await body_of(request)).get("name")
        name = name.strip() if isinstance(name, str) else name
        if not isinstance(name, str) or not _ANNOTATOR.match(name) or name == SEED_ANNOTATOR:
            raise BadRequest(
                "annotator name: 1-64 letters, digits, spaces or _.@- (starting with a letter "
                "or digit), not 'seed'"
            )
        response = JSONResponse({"annotator": name})
        response.set_cookie(
            ANNOTATOR_COOKIE, name, httponly=True, samesite="strict", max_age=365 * 86400
        )
        return response

    async def health(request: Request) -> Response:
        try:
            await run_in_threadpool(store.ping)
        except (OperationalError, InterfaceError) as exc:
            return JSONResponse(
                {
                    "ok": False,
                    "session_id": store.session_id,
                    "error": f"database: {_db_reason(exc)}",
                },
                status_code=503,
            )
        return JSONResponse({"ok": True, "session_id": store.session_id})

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/api/session", handle(session_info), methods=["GET"]),
        Route("/api/next", handle(next_item), methods=["POST"]),
        Route("/api/label", handle(label), methods=["POST"]),
        Route("/api/skip", handle(skip), methods=["POST"]),
        Route("/api/undo", handle(undo), methods=["POST"]),
        Route("/api/progress", handle(progress), methods=["GET"]),
        Route("/api/annotator", handle(set_annotator), methods=["POST"]),
        Route("/api/health", health, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    return _Guard(
        app,
        token=token,
        allowed_hosts=None if allowed_hosts is None else list(allowed_hosts),
        cookie=_token_cookie(store.session_id),
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _db_reason(exc: Any) -> str:
    """The first line of what the database driver said (SQLAlchemy wraps it in ``orig``)."""
    lines = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def check_serving(host: str, port: int, token: str | None) -> None:
    """What :func:`serve` would refuse, checked before a session is created: a token shorter
    than 16 characters, or an address and port it cannot listen on (port 0 always works).

    Raises
    ------
    ValueError
        The token is too short.
    OSError
        The address cannot be listened on (e.g. the port is in use).
    """
    if token is not None and len(token) < 16:
        raise ValueError("token: use at least 16 characters (or let the server generate one)")
    if port:
        _bind(host, port).close()


def _url(host: str, port: int, token: str | None) -> str:
    """The address to give annotators. "All addresses" (``0.0.0.0``, ``::``) is none that a
    browser can open: the machine's own name stands in for it."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


class _WorkerSupervisor:
    """The background worker, a ``python -m skanchor.label.worker`` process (not a
    multiprocessing child, which would import the caller's script again), started again if it
    ends while the server runs (e.g. the database was away when it started, or a crash):
    active learning must not stop without a sign while annotators go on labelling."""

    #: Seconds between checks; the least time between two starts, doubled after each
    #: worker that died within a minute (a failure that repeats: a missing index file),
    #: up to ``MAX_RESTART``.
    CHECK, RESTART, MAX_RESTART = 1.0, 5.0, 300.0

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.command, self.env = list(command), env
        self.process: Any = None
        self.restarts = 0
        self.delay = self.RESTART
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def _spawn(self) -> None:
        self.process = subprocess.Popen(self.command, env=self.env)
        self.started_at = time.monotonic()

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(self.CHECK):
            if self.process.poll() is None:
                continue
            lived = time.monotonic() - self.started_at
            self.delay = min(2 * self.delay, self.MAX_RESTART) if lived < 60 else self.RESTART
            if self._stopping.wait(max(0.0, self.delay - lived)):
                return
            print(
                f"skanchor label: the background worker stopped (exit code "
                f"{self.process.returncode}); starting it again",
                file=sys.stderr,
                flush=True,
            )
            self.restarts += 1
            self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _worker_command(session: Any) -> tuple[list[str], dict[str, str]]:
    """The worker's command line and environment. The database URL travels in the
    environment, not in the arguments that every user of the machine can list (it may hold a
    password); the folder holding this ``skanchor`` leads ``PYTHONPATH``, so the worker runs
    the same code even when the caller put it on ``sys.path`` by hand."""
    import skanchor

    root = str(Path(skanchor.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, WORKER_DB_ENV: session.store.url}
    command = [sys.executable, "-m", "skanchor.label.worker", str(session.session_dir)]
    return [*command, str(os.getpid())], env


def serve(
    session: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    worker: bool = True,
    log: Callable[[str], None] | None = None,
) -> None:
    """Serve a session until interrupted, with its background worker in another process.

    Parameters
    ----------
    session : LabelSession
        The session (:func:`~skanchor.label.session.create_session` or
        :func:`~skanchor.label.session.open_session`).
    host : str, default="127.0.0.1"
        Address to listen on. Any other than the loopback address needs a token.
    port : int, default=8000
        Port; 0 picks a free one (the printed URL says which).
    token : str, optional
        The access token (at least 16 characters); off loopback one is generated when
        none is given, and printed in the URL.
    worker : bool, default=True
        Start the background worker (tests of the app alone pass False).
    log : callable, optional
        Receives the start messages (default: print).
    """
    import uvicorn

    say = log or (lambda message: print(message, flush=True))
    loopback = host in LOOPBACK
    if token is None and not loopback:
        token = secrets.token_urlsafe(24)
    check_serving(host, 0, token)
    app = create_app(session.store, token=token, allowed_hosts=LOOPBACK if loopback else None)
    sock = _bind(host, port)
    url = _url(host, sock.getsockname()[1], token)
    supervisor = None
    if worker:
        session.store.set_worker_status(state="starting")
        supervisor = _WorkerSupervisor(*_worker_command(session))
        supervisor.start()
    say(f"skanchor label: serving {url}")
    if token is not None and not loopback:
        say("skanchor label: the access token is in the URL; share it only with your annotators")
    try:
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=3,
            )
        )
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl+C is how a session ends: return, as the docs say
        pass
    finally:
        if supervisor is not None:
            supervisor.stop()
        sock.close()
        session.store.close()
        print("skanchor label: stopped", file=sys.stderr, flush=True)
