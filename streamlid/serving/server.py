"""Websocket server: a live event feed for many subscribers, audio in from many clients, a browser page.

Paths: `/` the browser page (static/), `/events` the event feed (`?stream=ID` for one stream),
`/audio` audio in (one stream per connection), `/protocol.schema.json` the protocol's JSON Schema.
`?token=T` (or `Authorization: Bearer T`) when the server has a token.

The first half of this module is the protocol core and does no I/O: parsing and checking client
messages, decoding audio frames, the subscribers' bounded queues and who gets which message. The
second half is the asyncio layer on the `websockets` library around it. The windows of all audio
streams go to the model together, one `log_probs` call per step, in a single model thread off the
event loop. The model is any scorer that can describe itself (`ServedModel`), so this module needs no torch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..core.events import SCHEMA_FILE, to_json
from ..core.languages import name
from ..core.stream import LanguageStream, Scorer, StreamOptions
from ..core.threads import favour_model_thread
from ..model.checkpoint import model_name
from .protocol import (
    PROTOCOL_VERSION,
    AudioSession,
    Outbox,
    ProtocolError,
    ServerOptions,
    authorised,
    origin_allowed,
    parse_host_port,
    score_together,
    settings,
)

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_FILES = {
    "/": ("static/index.html", "text/html; charset=utf-8"),
    "/app.js": ("static/app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("static/style.css", "text/css; charset=utf-8"),
    "/mic-worklet.js": ("static/mic-worklet.js", "text/javascript; charset=utf-8"),
    "/protocol.schema.json": (str(SCHEMA_FILE), "application/json"),  # core/, beside events.py
}
log = logging.getLogger("streamlid.server")


# == asyncio layer ===================================================================================
class Connections(Protocol):
    """What LiveServer needs of the transport's open connections: websockets' Server, or the Ray
    ingress's stand-in (ray_serve.OpenConnections)."""

    connections: set

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


STEP_INTERVAL = 0.01  # s between the starts of steps: a step takes in what came in meanwhile at once


class Subscriber:
    """One connection's outbox and the task that sends it; a slow reader only ever delays itself."""

    def __init__(self, ws: ServerConnection, size: int, stream: str | None) -> None:
        self.ws, self.stream = ws, stream
        self.outbox = Outbox(size)
        self.ready = asyncio.Event()
        self.closing = False
        self.task = asyncio.create_task(self._send_all())

    def put(self, text: str) -> None:
        self.outbox.put(text)
        self.ready.set()

    def finish(self) -> None:
        """Send what is queued, then end."""
        self.closing = True
        self.ready.set()

    async def _send_all(self) -> None:
        try:
            while True:
                await self.ready.wait()
                self.ready.clear()
                for text in self.outbox.take():
                    await self.ws.send(text)
                if self.closing and not self.outbox:
                    return
        except ConnectionClosed:
            pass


class ServedModel(Scorer, Protocol):
    """What the server needs of a model (model.classifier.Classifier; the Ray client): a Scorer that names
    itself in the hello."""

    def describe(self) -> dict:
        """name, version, languages, open_set, and compute: where it runs."""
        ...


class LiveServer:
    """The websocket server. Audio-in streams are its own; `publish` adds events of a stream run elsewhere."""

    def __init__(
        self,
        classifier: ServedModel,
        options: ServerOptions | None = None,
        stream_options: StreamOptions | None = None,
        model: str = "",
    ) -> None:
        self.classifier = classifier
        self.options = options or ServerOptions()
        self.stream_options = stream_options or StreamOptions()
        self.model = classifier.describe()
        if model:
            self.model["name"] = model_name(model)
        self._listeners: dict[str | None, set[Subscriber]] = {}  # subscribers by the stream they follow (None: all)
        self.feeds = 0  # open /events connections
        self.streams: dict[str, dict] = {}  # id -> description and the latest decision/posteriors
        self.audio: dict[str, LanguageStream] = {}  # the audio-in streams the scoring loop drives
        self._due: dict[str, None] = {}  # those with audio the next step takes in (ordered: fair steps)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="streamlid-model")
        favour_model_thread()  # the event loop, busy with every connection, would starve the model thread
        self.server: Server | Connections | None = None
        self._next_id = 0
        self._closing = False
        self._audio_in: asyncio.Event | None = None
        self._stepped: asyncio.Condition | None = None
        self._scoring: asyncio.Task | None = None

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        self._start_scoring()
        o = self.options
        self.server = await serve(
            self.handle,
            o.host,
            o.port,
            process_request=self.check_request,
            compression=None,  # many subscribers: no per-connection deflate on 2 cores
            ping_interval=o.ping_interval,
            ping_timeout=o.ping_timeout,
            close_timeout=o.close_timeout,
            max_size=o.max_message_bytes,
            logger=log,
        )

    def start_on(self, connections: Connections) -> None:
        """Serve connections another transport accepts (ray_serve.py's ingress: it calls `check_request`
        and `handle`, and keeps `connections.connections`, which the per-address limit counts, and closes
        them when the server closes); the scoring loop starts on the running event loop."""
        self.server = connections
        self._start_scoring()

    def _start_scoring(self) -> None:
        """The scoring loop, on the running event loop; `start` and `start_on` call it."""
        self._audio_in, self._stepped = asyncio.Event(), asyncio.Condition()
        self._scoring = asyncio.create_task(self._score_loop())

    async def close(self) -> None:
        """End every audio stream with its summary, let the subscribers flush, then close the connections."""
        self._closing = True
        loop = asyncio.get_running_loop()
        for sid in list(self.audio):
            stream = self.audio.pop(sid)
            self.publish(sid, await loop.run_in_executor(self.executor, stream.close))
        for sub in self.subscribers:
            sub.finish()
        if self.subscribers:
            await asyncio.wait([sub.task for sub in self.subscribers], timeout=2.0)
        if self._scoring:
            self._scoring.cancel()
        if self.server:
            self.server.close()
            await self.server.wait_closed()
        self.executor.shutdown(wait=True)

    # -- the feed ---------------------------------------------------------------------------------
    def open_stream(self, label: str, sample_rate: int, channels: int, languages: list[str]) -> str:
        self._next_id += 1
        sid = f"s{self._next_id}"
        info = {"stream": sid, "label": label, "sample_rate": sample_rate, "channels": channels, "languages": languages}
        self.streams[sid] = {**info, "last": {}}
        self._broadcast(sid, to_json({"type": "open", **info}))
        return sid

    def publish(self, sid: str, events: list[dict]) -> None:
        """Send a stream's events to its subscribers; the `summary` ends the stream."""
        state = self.streams.get(sid)
        if state is None:
            return
        for event in events:
            message = {**event, "stream": sid}
            if event["type"] in ("decision", "posteriors", "vad"):
                state["last"][event["type"]] = message
            self._broadcast(sid, to_json(message))
            if event["type"] == "summary":
                del self.streams[sid]

    def _broadcast(self, sid: str, text: str) -> None:
        for sub in self._listeners.get(None, ()):
            sub.put(text)
        for sub in self._listeners.get(sid, ()):
            sub.put(text)

    @property
    def subscribers(self) -> set[Subscriber]:
        """Every open connection that gets events: the feeds and the audio clients."""
        return set().union(*self._listeners.values())

    def _subscribe(self, sub: Subscriber) -> None:
        self._listeners.setdefault(sub.stream, set()).add(sub)

    def _unsubscribe(self, sub: Subscriber) -> None:
        listeners = self._listeners.get(sub.stream, set())
        listeners.discard(sub)
        if not listeners:
            self._listeners.pop(sub.stream, None)

    def hello(self, role: str, stream: str | None = None) -> str:
        streams = [s for s in self.streams.values() if stream is None or s["stream"] == stream]
        return to_json(
            {
                "type": "hello",
                "protocol": PROTOCOL_VERSION,
                "role": role,
                "model": self.model,
                "languages": self.classifier.languages,
                "names": {code: name(code) for code in self.classifier.languages},
                "settings": settings(self.stream_options, self.options),
                "streams": streams,
            }
        )

    # -- the model --------------------------------------------------------------------------------
    async def _score_loop(self) -> None:
        """Whenever audio came in: one step for all streams in the model thread, then publish."""
        loop = asyncio.get_running_loop()
        started = 0.0
        while True:
            await self._audio_in.wait()
            await asyncio.sleep(started + STEP_INTERVAL - loop.time())
            started = loop.time()
            self._audio_in.clear()
            batch = [(sid, self.audio[sid]) for sid in self._due if sid in self.audio]
            self._due = {}
            try:
                results = await loop.run_in_executor(
                    self.executor, score_together, self.classifier, [s for _, s in batch]
                )
            except Exception:  # a model failure must not stop the server; it is logged and the step skipped
                log.exception("scoring failed")
                results = [[] for _ in batch]
                self._due = dict.fromkeys(sid for sid, _ in batch) | self._due  # tried again at the next step
            for (sid, _), events in zip(batch, results, strict=True):
                self.publish(sid, events)
            pending = dict.fromkeys(sid for sid, stream in batch if stream.pending)  # adaptive analysis stopped
            if pending:  # after a window: the rest of their audio, in the next step
                self._due = pending | self._due
                self._audio_in.set()
            async with self._stepped:
                self._stepped.notify_all()

    # -- connections ------------------------------------------------------------------------------
    def check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """The HTTP part of a connection: a static file, or a refusal (path, origin, token, per-address
        limit), or None to go on to the websocket (`handle`)."""
        o = self.options
        path = urlsplit(request.path).path
        if path in STATIC_FILES:
            file, content_type = STATIC_FILES[path]
            body = (PACKAGE_DIR / file).read_bytes()
            headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body)))])
            headers["Cache-Control"] = "no-cache"
            return Response(200, "OK", headers, body)
        if path not in ("/events", "/audio"):
            return ws.respond(HTTPStatus.NOT_FOUND, f"no such path {path}; try / /events /audio\n")
        if not origin_allowed(request, o.origins):
            return ws.respond(HTTPStatus.FORBIDDEN, f"origin {request.headers.get('Origin')} is not allowed\n")
        if not authorised(o.token, request):
            return ws.respond(HTTPStatus.UNAUTHORIZED, "a valid token is required (?token= or Authorization: Bearer)\n")
        address = ws.remote_address[0]
        if sum(c.remote_address[0] == address for c in self.server.connections) >= o.max_connections_per_address:
            limit = o.max_connections_per_address
            return ws.respond(HTTPStatus.TOO_MANY_REQUESTS, f"at most {limit} connections from one address\n")
        return None

    async def handle(self, ws: ServerConnection) -> None:
        """One accepted websocket: the event feed or an audio-in stream, until it closes."""
        url = urlsplit(ws.request.path)
        if url.path == "/events":
            await self._serve_feed(ws, parse_qs(url.query).get("stream", [None])[0])
        else:
            await self._serve_audio(ws)

    async def _serve_feed(self, ws: ServerConnection, stream: str | None) -> None:
        if self.feeds >= self.options.max_subscribers:
            limit = self.options.max_subscribers
            await _fail(ws, f"the server is at its limit of {limit} subscribers", code=1013)
            return
        self.feeds += 1
        sub = Subscriber(ws, self.options.queue_size, stream)
        try:
            sub.put(self.hello("feed", stream))
            self._subscribe(sub)
            async for _ in ws:
                raise ProtocolError("the event feed takes no messages")
        except ProtocolError as e:
            await _fail(ws, str(e))
        except ConnectionClosed:
            pass
        finally:
            self.feeds -= 1
            self._unsubscribe(sub)
            sub.task.cancel()

    async def _serve_audio(self, ws: ServerConnection) -> None:
        """Drives an AudioSession: hello; start -> started; binary PCM -> events; stop -> the final events
        and summary, then close."""
        await ws.send(self.hello("audio"))
        session = AudioSession(self.classifier, self.stream_options, self.options)
        sid = None
        sub = Subscriber(ws, self.options.queue_size, None)
        try:
            stream = session.start(await ws.recv(), len(self.audio), self._closing)
            fmt = session.format
            sid = self.open_stream(fmt.label or ws.remote_address[0], fmt.sample_rate, fmt.channels, stream.languages)
            sub.stream = sid
            sub.put(session.started(sid))
            self._subscribe(sub)
            self.audio[sid] = stream
            async for message in ws:
                if not session.receive(message):
                    break
                self._due[sid] = None
                self._audio_in.set()
                if session.backlogged():  # a client faster than real time waits for the model
                    async with self._stepped:
                        await self._stepped.wait_for(lambda: not session.backlogged())
            await self._end_stream(sid)
            sub.finish()
            await sub.task
            await ws.close(1000, "stream ended")
        except ProtocolError as e:
            await self._end_stream(sid)
            await _fail(ws, str(e))
        except ConnectionClosed:
            await self._end_stream(sid)
        finally:
            self._unsubscribe(sub)
            sub.task.cancel()

    async def _end_stream(self, sid: str | None) -> None:
        stream = self.audio.pop(sid, None)
        if stream is not None:
            events = await asyncio.get_running_loop().run_in_executor(self.executor, stream.close)
            self.publish(sid, events)


async def _fail(ws: ServerConnection, message: str, code: int = 1008) -> None:
    """Tell the client what went wrong, then close: 1008 (policy violation) or 1013 (at a limit: try again later)."""
    try:
        await ws.send(to_json({"type": "error", "error": message}))
        await ws.close(code, message[:120])
    except ConnectionClosed:
        pass


class BackgroundServer:
    """A LiveServer on its own thread and event loop, for `listen --serve`: publish events from any thread."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="streamlid-server", daemon=True)

    def start(self) -> BackgroundServer:
        self._thread.start()
        self._started.wait()
        if self._error:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as e:  # handed to the starting thread
            self._error = e
            self._started.set()
            return
        self._started.set()
        self.loop.run_forever()

    def publisher(self, sid: str) -> Callable[[list[dict]], None]:
        """A sink that hands the events to the server's loop without waiting."""
        return lambda events: self.loop.call_soon_threadsafe(self.server.publish, sid, events)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


def serve_stream(
    address: str, token: str | None, classifier: ServedModel, stream: LanguageStream, info: dict
) -> tuple[BackgroundServer, Callable[[list[dict]], None]]:
    """For `listen --serve HOST:PORT`: a background server publishing this one stream -> (server, sink).

    ValueError with a one-line reason for a bad address, a missing token or a port that is taken."""
    host, port = parse_host_port(address)
    options = ServerOptions(host=host, port=port, token=token)
    live = LiveServer(classifier, options, stream.options, info["model"])
    # registered before the port opens, so the first subscriber's hello already lists it
    sid = live.open_stream(info["source"], stream.sample_rate, stream.channels, stream.languages)
    try:
        background = BackgroundServer(live).start()
    except OSError as e:
        raise ValueError(f"cannot listen on {address}: {e.strerror or e}") from None
    return background, background.publisher(sid)
