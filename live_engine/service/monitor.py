"""``qtml monitor``: a live web page fed by the engine's broadcast (docs/monitor.md).

A background thread subscribes to every broadcast topic (:class:`~live_engine.service.broadcast.Subscriber`)
and folds each message into :class:`MonitorState`: the latest payload of each topic, a short history of
price, spread and book imbalance for the chart, and the last alerts. The page (``static/monitor.html``,
plain JS, nothing fetched from outside) gets that state as a snapshot when it connects to ``/events``,
then one server-sent event per message.

The page binds 127.0.0.1. Any other address needs a token; when one is set every request but the
static files must carry it (``?token=...`` or ``Authorization: Bearer ...``).

Imported by ``qtml monitor`` only (lazily): FastAPI is not loaded by the engine or ``qtml --help``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from features.spec import FEATURE_NAMES
from live_engine.service.broadcast import TOPICS, Message, Subscriber, is_loopback_host, to_json
from quantumtrader.errors import InputError

STATIC = Path(__file__).with_name("static")
HISTORY_POINTS = 600  # bars on the chart
ALERTS_KEPT = 50  # and as many orders and fills
CLIENT_QUEUE = 1000  # events queued per page; beyond, the oldest is dropped (the page resyncs on reload)
PING_S = 15.0  # an SSE comment this often keeps proxies from closing an idle stream
MIN_TOKEN = 8


class MonitorState:
    """What the page shows, folded from broadcast messages; safe to read and write from several threads.

    A chart point is ``[ts_ns, close, spread_ticks, book_imb_l1]``: the features message of a bar gives
    the spread and imbalance, the decisions message of the same bar (published right after) the close.
    """

    def __init__(self, history: int = HISTORY_POINTS, alerts: int = ALERTS_KEPT) -> None:
        self.feature_names = list(FEATURE_NAMES)
        self._spread, self._imbalance = (FEATURE_NAMES.index(n) if n in FEATURE_NAMES else None
                                         for n in ("spread_ticks", "book_imb_l1"))
        self._lock = threading.Lock()
        self.latest: dict[str, Any] = {}
        self.series: deque[list[Any]] = deque(maxlen=history)
        self.alerts: deque[dict[str, Any]] = deque(maxlen=alerts)
        self.orders: deque[dict[str, Any]] = deque(maxlen=alerts)  # orders and fills, as they came
        self.epoch: str | None = None
        self.received = 0
        self.lost = 0

    def _point(self, topic: str, data: Mapping[str, Any]) -> list[Any] | None:
        ts = data.get("ts_ns")
        if topic == "features":
            feats = data.get("features") or []
            pick = [feats[i] if i is not None and i < len(feats) else None for i in (self._spread, self._imbalance)]
            point = [ts, None, *pick]
        elif topic == "decisions" and "close" in data:
            if self.series and self.series[-1][0] == ts:
                self.series[-1][1] = data["close"]
                return list(self.series[-1])
            point = [ts, data["close"], None, None]
        else:
            return None
        self.series.append(point)
        return list(point)

    def apply(self, msg: Message) -> dict[str, Any]:
        """Fold ``msg`` in; returns the event the pages get (topic, data, the chart point if any)."""
        data = msg.data if isinstance(msg.data, Mapping) else {"value": msg.data}
        with self._lock:
            if msg.new_epoch and self.epoch is not None:
                self.series.clear()
            self.epoch = msg.epoch
            self.received += 1
            self.lost += msg.lost
            self.latest[msg.topic] = data
            if msg.topic == "alerts":
                self.alerts.append({"seq": msg.seq, "ts_ns": msg.ts_ns, **data})
            elif msg.topic in ("orders", "fills"):
                self.orders.append({"seq": msg.seq, "ts_ns": msg.ts_ns, "topic": msg.topic, **data})
            point = self._point(msg.topic, data)
            return {"topic": msg.topic, "seq": msg.seq, "epoch": msg.epoch, "ts_ns": msg.ts_ns, "data": data,
                    "point": point, "received": self.received, "lost": self.lost}

    def snapshot(self) -> dict[str, Any]:
        """Everything at once, for a page that just connected."""
        with self._lock:
            return {"latest": dict(self.latest), "series": [list(p) for p in self.series],
                    "alerts": list(self.alerts), "orders": list(self.orders), "feature_names": self.feature_names,
                    "epoch": self.epoch, "received": self.received, "lost": self.lost}


class Hub:
    """Fans events out from the subscriber thread to every connected page's asyncio queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[asyncio.Queue[bytes | None], asyncio.AbstractEventLoop] = {}

    def add(self) -> asyncio.Queue[bytes | None]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(CLIENT_QUEUE)
        with self._lock:
            self._clients[queue] = asyncio.get_running_loop()
        return queue

    def remove(self, queue: asyncio.Queue[bytes | None]) -> None:
        with self._lock:
            self._clients.pop(queue, None)

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients)

    def push(self, item: bytes | None) -> None:
        """Queue ``item`` for every page (None ends their streams); callable from any thread."""
        with self._lock:
            clients = list(self._clients.items())
        for queue, loop in clients:
            with contextlib.suppress(RuntimeError):  # that loop is closed: the server is gone
                loop.call_soon_threadsafe(_put_dropping_oldest, queue, item)


def _put_dropping_oldest(queue: asyncio.Queue[bytes | None], item: bytes | None) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


def sse(event: str, payload: Any) -> bytes:
    """One server-sent event (the JSON has no newline, so one ``data:`` line)."""
    return b"event: " + event.encode() + b"\ndata: " + to_json(payload) + b"\n\n"


class Monitor:
    """The state, the pages and the thread that follows the broadcast at ``endpoint``."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.state = MonitorState()
        self.hub = Hub()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="monitor-subscriber", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        # the SUB socket lives and dies in this thread (ZMQ sockets are not thread-safe)
        with Subscriber(self.endpoint, TOPICS) as sub:
            while not self._stop.is_set():
                msg = sub.recv(timeout_ms=200)
                if msg is not None:
                    self.hub.push(sse("message", self.state.apply(msg)))

    def stop(self) -> None:
        self._stop.set()
        self.hub.push(None)
        if self._thread is not None:
            self._thread.join(timeout=2)


def check_access(host: str, token: str | None) -> None:
    """Refuse a bind beyond loopback without a token, and a token too short to be one."""
    if token is not None and len(token) < MIN_TOKEN:
        raise InputError(f"the monitor token is {len(token)} characters: use at least {MIN_TOKEN} "
                         "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`)")
    if token is None and not is_loopback_host(host):
        raise InputError(f"monitor host {host!r} is not a loopback address: pass --token (or set "
                         "QT_LIVE__SERVICE__MONITOR__TOKEN) to serve beyond this machine, or bind 127.0.0.1")


def build_app(monitor: Monitor, token: str | None = None) -> FastAPI:
    """The ASGI app: ``/`` the page, ``/static/*`` its script and style, ``/api/snapshot``, ``/events``."""
    def authorised(request: Request) -> None:
        if token is None:
            return
        given = request.query_params.get("token") or request.headers.get("authorization", "").removeprefix("Bearer ")
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "token required: open the page as /?token=<token>")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        monitor.start()
        try:
            yield
        finally:
            monitor.stop()

    app = FastAPI(title="QuantumTrader monitor", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    guard = [Depends(authorised)]

    @app.get("/", dependencies=guard)
    def page() -> FileResponse:
        return FileResponse(STATIC / "monitor.html", headers={"Cache-Control": "no-store"})

    @app.get("/api/snapshot", dependencies=guard)
    def snapshot() -> JSONResponse:
        return JSONResponse({"endpoint": monitor.endpoint, **monitor.state.snapshot()})

    @app.get("/events", dependencies=guard)
    async def events() -> StreamingResponse:
        queue = monitor.hub.add()  # before the snapshot: nothing published in between is missed

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield sse("snapshot", {"endpoint": monitor.endpoint, **monitor.state.snapshot()})
                while True:
                    try:
                        item = await asyncio.wait_for(queue.get(), PING_S)
                    except TimeoutError:
                        yield b": ping\n\n"
                        continue
                    if item is None:
                        return
                    yield item
            finally:
                monitor.hub.remove(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return app


def serve(endpoint: str, host: str, port: int, token: str | None = None,
          echo: Callable[[str], None] = print) -> None:
    """Serve the page until SIGINT / SIGTERM (a normal end: returns); says ``ready: <url>`` once it listens."""
    import uvicorn

    from quantumtrader.servers import port_is_free

    check_access(host, token)
    if "://" not in endpoint:
        raise InputError(f"live.zmq_pub_endpoint={endpoint!r} is not a ZMQ endpoint: use tcp://127.0.0.1:PORT")
    if not port_is_free(port):
        raise InputError(f"port {port} is in use: stop what listens there or pass --port")
    monitor = Monitor(endpoint)
    url = f"http://{host}:{port}"

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                echo(f"ready: {url}")

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            monitor.hub.push(None)  # end the open event streams, or shutdown would wait on them
            super().handle_exit(sig, frame)
            self._captured_signals.clear()  # a requested stop is the normal end: do not re-raise it

    config = uvicorn.Config(build_app(monitor, token), host=host, port=port, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=3, lifespan="on")
    _Server(config).run()
