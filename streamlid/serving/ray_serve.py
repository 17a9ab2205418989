"""`streamlid serve` on Ray Serve: the same websocket protocol, the model in replicas that scale with load.

    streamlid serve --backend ray          # joins the cluster at RAY_ADDRESS, or starts a local one
    serve run streamlid.serving.ray_serve:build_app model=streamlid/models/streamlid-v3.safetensors

Two deployments. `Ingress` holds the websocket connections: it runs server.py's LiveServer unchanged
(protocol, feed, backpressure, every stream's ring buffer, VAD and smoothing) behind a Starlette
websocket, with a `RemoteClassifier` in place of the model, so only windows leave it. `Scorer` holds the
model: `@serve.batch` merges the windows of concurrent calls (from every ingress replica) into one
forward pass; it autoscales, with a GPU per replica when the cluster has GPUs. Scoring is a pure function
of the windows, so a call that fails because its replica died is sent again: a replica lost mid-stream
costs time, not streams or events. docs/scaling.md has the architecture, the cluster setup and numbers.
"""

# no `from __future__ import annotations`: FastAPI reads the handlers' annotations (WebSocket) at runtime,
# and through Serve's class-based view a string annotation turns the websocket into a query parameter

import asyncio
import logging
import time
from http import HTTPStatus
from pathlib import Path

import numpy as np
import ray
import torch
from fastapi import FastAPI, WebSocket
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import DeploymentUnavailableError, ReplicaUnavailableError
from ray.serve.handle import DeploymentHandle
from starlette.requests import HTTPConnection
from starlette.responses import Response as HttpResponse
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.http11 import Request, Response

from ..core.stream import StreamOptions
from ..core.threads import favour_model_thread
from ..model.checkpoint import model_path
from ..model.classifier import Classifier
from ..model.format import ModelInfo, has_speech_check
from .protocol import ServerOptions
from .server import LiveServer

log = logging.getLogger("ray.serve")  # into the replica's log, beside Serve's own

# Scorer replicas: one per this many calls in flight (a call is one ingress step: all its streams' windows)
AUTOSCALING = {
    "min_replicas": 1,
    "max_replicas": 4,
    "target_ongoing_requests": 2,
    "upscale_delay_s": 5,
    "downscale_delay_s": 60,
}
MAX_BATCH_CALLS = 32  # calls merged into one forward pass
# a GPU replica warms up for batches of up to this many windows before it serves (larger ones pay for their
# first call once): each 32 more rows are 8 more first calls at start-up, which a replacement replica waits for
WARM_UP_WINDOWS = 512
BATCH_WAIT_S = 0.005  # how long a batch waits for more calls once it has one
QUIET = {"enable_access_log": False}  # a line per scoring call would cost more than the call
RETRYABLE = (RayActorError, ReplicaUnavailableError, DeploymentUnavailableError)


# == the model ======================================================================================
# a dead replica is noticed within health_check_period_s and replaced; the calls it held are sent again
@serve.deployment(
    max_ongoing_requests=2 * MAX_BATCH_CALLS,
    autoscaling_config=AUTOSCALING,
    health_check_period_s=2,
    logging_config=QUIET,
)
class Scorer:
    """The model: windows in, log-probabilities out, the calls of all ingress replicas batched together."""

    def __init__(
        self,
        model: str | None = None,
        compute: str = "auto",
        threads: int | None = None,
        window: float = StreamOptions.window,
        int8: bool | None = None,
        most_windows: int = 1,
        compiled: bool = True,
    ) -> None:
        if threads:
            torch.set_num_threads(threads)
        self.classifier = Classifier.load(model, compute, int8)
        if compiled:
            self.classifier.compile()  # on a GPU
        self.classifier.warm_up(window, most_windows)  # the streams' longest window, a batch's most windows
        self.scoring = 0  # batches being scored now
        favour_model_thread()  # the model runs in a thread beside the replica's event loop

    def describe(self) -> tuple[ModelInfo, dict]:
        return self.classifier.info, self.classifier.describe()

    def busy(self) -> int:
        """Batches this replica is scoring now (0: idle)."""
        return self.scoring

    @serve.batch(max_batch_size=MAX_BATCH_CALLS, batch_wait_timeout_s=BATCH_WAIT_S)
    async def score(self, calls: list[list[np.ndarray]]) -> list[np.ndarray]:
        flat = [w for windows in calls for w in windows]
        self.scoring += 1
        try:  # in a thread: the replica answers health checks (and `busy`) meanwhile
            scores = await asyncio.to_thread(self.classifier.log_probs, flat)
        finally:
            self.scoring -= 1
        return np.split(scores, np.cumsum([len(windows) for windows in calls])[:-1])


class RemoteClassifier:
    """Classifier's interface over the Scorer deployment, for LiveServer and LanguageStream (model thread)."""

    def __init__(self, scorer: DeploymentHandle, info: ModelInfo, description: dict, retry_for: float = 60.0) -> None:
        self.scorer, self.info, self.languages = scorer, info, info.languages
        self.open_set = info.calibration.open_set
        self.speech_check = has_speech_check(info)
        self.description = description  # the replica's Classifier.describe()
        self.retry_for = retry_for

    def describe(self) -> dict:
        return dict(self.description)

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                return self.scorer.score.remote(windows).result()
            except RETRYABLE as e:
                if time.monotonic() > deadline:
                    raise
                log.warning("a model replica failed (%s); sending its %d windows again", type(e).__name__, len(windows))
                time.sleep(0.1)


# == the websocket ingress ==========================================================================
class StarletteConnection:
    """What LiveServer uses of a `websockets` connection, over a Starlette one (Serve's HTTP proxy)."""

    def __init__(self, conn: HTTPConnection, max_size: int) -> None:
        self.conn, self.max_size = conn, max_size
        query = f"?{conn.url.query}" if conn.url.query else ""
        self.request = Request(conn.url.path + query, Headers(conn.headers.items()))
        self.remote_address = (conn.client.host, conn.client.port) if conn.client else ("", 0)

    def respond(self, status: HTTPStatus, text: str) -> Response:
        body = text.encode()
        headers = Headers([("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return Response(status.value, status.phrase, headers, body)

    async def recv(self) -> str | bytes:
        message = await self.conn.receive()
        if message["type"] == "websocket.disconnect":
            code = message.get("code", 1000)
            raise (ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError)(None, None)
        data = message["text"] if message.get("text") is not None else message["bytes"]
        if len(data) > self.max_size:
            await self.close(1009, "message too big")
            raise ConnectionClosedError(None, None)
        return data

    def __aiter__(self) -> "StarletteConnection":
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    async def send(self, text: str) -> None:
        try:
            await self.conn.send_text(text)
        except (RuntimeError, OSError) as e:  # Starlette: sending after a close
            raise ConnectionClosedError(None, None) from e

    async def close(self, code: int = 1000, reason: str = "") -> None:
        try:
            await self.conn.close(code, reason)
        except (RuntimeError, OSError):
            pass  # already closed


def http_response(r: Response) -> HttpResponse:
    return HttpResponse(r.body, r.status_code, headers=dict(r.headers.raw_items()))


class OpenConnections:
    """Stands in for the websockets Server that LiveServer keeps when it binds its own port: the open
    connections (the per-address limit counts them), closed with 1001 when the server closes."""

    def __init__(self) -> None:
        self.connections: set[StarletteConnection] = set()
        self._closing: list[asyncio.Future] = []

    def close(self) -> None:
        self._closing = [asyncio.ensure_future(c.close(1001, "server shutting down")) for c in self.connections]

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._closing)


# serve.ingress pickles the app with its routes when Ingress is defined: what they use is defined above
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=1000, logging_config=QUIET)
@serve.ingress(app)
class Ingress:
    """The protocol of `streamlid serve`; each replica owns its connections and their streams' state."""

    def __init__(
        self, scorer: DeploymentHandle, options: ServerOptions, stream_options: StreamOptions, model: str
    ) -> None:
        self.scorer, self.options, self.stream_options, self.model = scorer, options, stream_options, model
        self._live: asyncio.Future[LiveServer] | None = None

    async def live(self) -> LiveServer:
        """The LiveServer, started on the replica's event loop at the first request."""
        if self._live is None:
            self._live = asyncio.ensure_future(self._start())
        return await self._live

    async def _start(self) -> LiveServer:
        info, description = await self.scorer.describe.remote()
        server = LiveServer(
            RemoteClassifier(self.scorer, info, description), self.options, self.stream_options, self.model
        )
        server.start_on(OpenConnections())
        return server

    @app.websocket("/{path:path}")
    async def websocket(self, websocket: WebSocket) -> None:
        server = await self.live()
        conn = StarletteConnection(websocket, self.options.max_message_bytes)
        refused = server.check_request(conn, conn.request)
        if refused is not None:
            await websocket.send_denial_response(http_response(refused))
            return
        await websocket.accept()
        server.server.connections.add(conn)
        try:
            await server.handle(conn)
        finally:
            server.server.connections.discard(conn)

    @app.get("/{path:path}")
    async def page(self, path: str, request: HTTPConnection) -> HttpResponse:
        server = await self.live()
        conn = StarletteConnection(request, self.options.max_message_bytes)
        refused = server.check_request(conn, conn.request)
        return http_response(refused or conn.respond(HTTPStatus.UPGRADE_REQUIRED, "this path takes websockets\n"))


# == building and running the application ===========================================================
def application(
    options: ServerOptions,
    stream_options: StreamOptions,
    model: str | Path | None = None,
    compute: str = "auto",
    threads: int | None = None,
    scorer_config: dict | None = None,
    int8: bool | None = None,
    compiled: bool = True,
) -> serve.Application:
    """Ingress and Scorer bound together; a GPU per Scorer replica when the cluster has GPUs.

    `compiled`: the model compiled on a GPU replica (Classifier.compile). `scorer_config` overrides
    Scorer's deployment options (num_replicas, autoscaling_config, ...)."""
    gpus = ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0
    actor = {"num_gpus": 1} if gpus and compute != "cpu" else {"num_cpus": 1}
    model = str(model_path(model).resolve()) if model else None  # replicas may run in another directory
    scorer = Scorer.options(**{"ray_actor_options": actor, **(scorer_config or {})}).bind(
        model, compute, threads, stream_options.window, int8, WARM_UP_WINDOWS, compiled
    )
    return Ingress.bind(scorer, options, stream_options, model or "")


def build_app(args: dict[str, str]) -> serve.Application:
    """For `serve run` and Serve config files (docs/scaling.md): args model, compute, threads, token, host.

    `host` is the address Serve's HTTP proxy binds (http_options): anything but loopback needs a token."""
    options = ServerOptions(host=args.get("host", "127.0.0.1"), port=0, token=args.get("token") or None)
    threads = int(args["threads"]) if args.get("threads") else None
    return application(options, StreamOptions(), args.get("model"), args.get("compute", "auto"), threads)


def start_ray(options: ServerOptions) -> None:
    """Ray and Serve's HTTP proxy on options.host:options.port (RAY_ADDRESS's cluster, or a new local one)."""
    ray.init()
    serve.start(http_options={"host": options.host, "port": options.port})


__all__ = ["Ingress", "RemoteClassifier", "Scorer", "application", "build_app", "start_ray"]
