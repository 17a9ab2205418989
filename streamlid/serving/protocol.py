"""The websocket protocol of `streamlid serve`, without I/O (as websockets keeps its own in a sans-I/O
protocol.py): parsing and checking client messages, decoding audio frames, the subscribers' bounded
queues, and `AudioSession`, the state of one audio-in connection (hello, start, PCM frames, stop) with
its limits. The asyncio layer in server.py and the Ray ingress in ray_serve.py drive it; neither decides
protocol questions itself.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, replace
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.http11 import Request

from ..core.events import to_json
from ..core.stream import LanguageStream, Scorer, StreamOptions

PROTOCOL_VERSION = 2  # 2: the open set (state speech-unknown, language null; start.unknown)
FORMATS = {"int16": np.dtype("<i2"), "float32": np.dtype("<f4")}
START_FIELDS = {"type", "sample_rate", "channels", "format", "languages", "prefer", "unknown", "steady_hop", "label"}
MAX_TEXT_BYTES = 64 * 1024
TOKEN_VARIABLE = "STREAMLID_TOKEN"  # the token, when no --token is given


# == protocol core: no I/O =============================================================================
class ProtocolError(Exception):
    """A client broke the protocol; the one-line message is sent back to it before the connection closes."""


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None  # required when binding to anything but loopback
    allow_remote_without_token: bool = False  # the explicit override of that rule
    origins: tuple[str, ...] = ()  # browser origins allowed besides the page's own
    queue_size: int = 256  # messages a subscriber may lag behind before the oldest are dropped
    max_streams: int = 32  # concurrent audio-in streams (one per connection)
    max_subscribers: int = 256  # concurrent /events connections
    max_connections_per_address: int = 64  # concurrent websocket connections from one client address
    max_frame_seconds: float = 5.0  # audio in one binary message
    max_message_bytes: int = 2**20
    backlog_seconds: float = 2.0  # unanalysed audio per stream before the server stops reading from its client
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 5.0  # a peer that does not answer a close is cut off after this

    def __post_init__(self) -> None:
        if self.token is None and not is_loopback(self.host) and not self.allow_remote_without_token:
            raise ValueError(
                f"binding to {self.host} needs a token (or allow_remote_without_token: anyone who can reach it may connect)"
            )
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be from 0 to 65535, not {self.port}")
        limits = ("queue_size", "max_streams", "max_subscribers", "max_connections_per_address", "max_message_bytes")
        for key in limits:
            if getattr(self, key) < 1:
                raise ValueError(f"{key.replace('_', '-')} must be at least 1")


def is_unicode(text: str) -> bool:
    """Whether `text` is text UTF-8 can carry (JSON lets a message hold a lone surrogate, which is not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_host_port(text: str, default_port: int = 8765) -> tuple[str, int]:
    """'HOST:PORT', 'HOST', ':PORT' or '[::1]:PORT' -> (host, port); ValueError with a one-line reason."""
    host, sep, port = text.rpartition(":") if text.count(":") <= 1 or text.startswith("[") else (text, "", "")
    if not sep:
        host, port = text, str(default_port)
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad address {text!r}: expected HOST:PORT with a port from 0 to 65535")
    return host, int(port)


def token_from_env(token: str | None) -> str | None:
    """`token` when given, else $STREAMLID_TOKEN, else None."""
    return token or os.environ.get(TOKEN_VARIABLE) or None


def authorised(token: str | None, request: Request) -> bool:
    if token is None:
        return True
    given = parse_qs(urlsplit(request.path).query).get("token", [""])[0]
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        given = auth[7:]
    return hmac.compare_digest(given.encode(), token.encode())


def origin_allowed(request: Request, allowed: Iterable[str]) -> bool:
    """Browsers send Origin: the page's own origin (same host and port) and listed ones may connect."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser
    host = request.headers.get("Host", "")
    return origin in allowed or origin in (f"http://{host}", f"https://{host}")


@dataclass(frozen=True)
class AudioFormat:
    sample_rate: int
    channels: int = 1
    format: str = "int16"
    languages: tuple[str, ...] | None = None
    label: str = ""
    unknown: bool | None = None  # StreamOptions.unknown: None = the server's setting
    prefer: tuple[str, ...] | None = None  # StreamOptions.prefer: None = the server's setting
    steady_hop: float | None = None  # StreamOptions.steady_hop: None = the server's setting

    @property
    def frame_bytes(self) -> int:
        return self.channels * FORMATS[self.format].itemsize


def parse_message(text: str, expected: Iterable[str]) -> dict:
    """A client's text message -> dict with a known `type`."""
    if len(text) > MAX_TEXT_BYTES:
        raise ProtocolError(f"text message of {len(text)} characters is too long (at most {MAX_TEXT_BYTES})")
    try:
        msg = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProtocolError(f"message is not JSON: {e.msg} at position {e.pos}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError('a message must be a JSON object with a "type"')
    expected = tuple(expected)
    if msg["type"] not in expected:
        raise ProtocolError(f"unexpected message type {msg['type']!r} here (expected {' or '.join(expected)})")
    return msg


def _int_field(msg: dict, key: str, default: int | None, low: int, high: int) -> int:
    value = msg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError(f"start: {key} must be an integer from {low} to {high}, not {json.dumps(value)}")
    return value


def parse_start(msg: dict, model_languages: list[str]) -> AudioFormat:
    """Check a `start` message against the model; ProtocolError says what is wrong."""
    extra = sorted(set(msg) - START_FIELDS)
    if extra:
        raise ProtocolError(f"start: unknown field(s) {', '.join(extra)}")
    rate = _int_field(msg, "sample_rate", None, 8000, 192000)
    channels = _int_field(msg, "channels", 1, 1, 8)
    fmt = msg.get("format", "int16")
    if fmt not in FORMATS:
        raise ProtocolError(f"start: format must be {' or '.join(FORMATS)}, not {json.dumps(fmt)}")
    languages = msg.get("languages")
    if languages is not None:
        if not isinstance(languages, list) or not all(isinstance(c, str) for c in languages) or len(languages) < 2:
            raise ProtocolError("start: languages must be a list of at least two language codes, or null")
        unknown = [c for c in languages if c not in model_languages]
        if unknown:
            raise ProtocolError(
                f"start: unknown language(s) {', '.join(unknown)}; the model knows {' '.join(model_languages)}"
            )
        languages = tuple(dict.fromkeys(languages))
    prefer = msg.get("prefer")
    if prefer is not None:
        if not isinstance(prefer, list) or not all(isinstance(c, str) for c in prefer):
            raise ProtocolError("start: prefer must be a list of language codes, or null")
        unknown = [c for c in prefer if c not in model_languages]
        if unknown:
            raise ProtocolError(f"start: unknown preferred language(s) {', '.join(unknown)}")
        prefer = tuple(dict.fromkeys(prefer))
    steady_hop = msg.get("steady_hop")
    if steady_hop is not None and (
        isinstance(steady_hop, bool) or not isinstance(steady_hop, int | float) or not 0 <= steady_hop <= 30
    ):
        raise ProtocolError(f"start: steady_hop must be a number of seconds from 0 to 30, not {json.dumps(steady_hop)}")
    unknown = msg.get("unknown")
    if unknown is not None and not isinstance(unknown, bool):
        raise ProtocolError(f"start: unknown must be true, false or null, not {json.dumps(unknown)}")
    label = msg.get("label", "")
    if not isinstance(label, str) or len(label) > 100 or not is_unicode(label):
        raise ProtocolError("start: label must be a string of at most 100 characters of Unicode text")
    return AudioFormat(rate, channels, fmt, languages, label, unknown, prefer, steady_hop)


def decode_frame(data: bytes, fmt: AudioFormat, max_seconds: float) -> np.ndarray:
    """A binary message -> (frames, channels) PCM, little-endian interleaved."""
    if len(data) % fmt.frame_bytes or not data:
        raise ProtocolError(
            f"an audio message of {len(data)} bytes is not a whole number of frames"
            f" ({fmt.channels} channel(s) of {fmt.format}: {fmt.frame_bytes} bytes a frame)"
        )
    frames = len(data) // fmt.frame_bytes
    if frames > max_seconds * fmt.sample_rate:
        raise ProtocolError(
            f"an audio message of {frames / fmt.sample_rate:.1f} s is too long (at most {max_seconds:g} s)"
        )
    return np.frombuffer(data, dtype=FORMATS[fmt.format]).reshape(frames, fmt.channels)


class Outbox:
    """A subscriber's bounded queue of encoded messages: when full the oldest go, counted in a `missed` notice."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: deque[str] = deque()
        self.missed = 0

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item: str) -> None:
        if len(self.items) >= self.size:
            self.items.popleft()
            self.missed += 1
        self.items.append(item)

    def take(self) -> list[str]:
        out = list(self.items)
        self.items.clear()
        if self.missed:
            out.insert(0, to_json({"type": "missed", "count": self.missed}))
            self.missed = 0
        return out


def score_together(
    classifier: Scorer, streams: list[LanguageStream], model_thread: Executor | None = None
) -> list[list[dict]]:
    """Advance every stream, score all their windows in one call to the model, and complete each stream.

    With `model_thread` (one thread: a GPU's, not the one this runs in, which would wait on itself), the
    streams go in two halves, each half's call in that thread while the other half advances or completes,
    so that the GPU's time can hide behind the CPU's (each stream's events are the same: a stream's windows
    stay in one call). The server does not use it yet: it is measured first (gpu_serving.py --pipelined)."""
    if model_thread is None or len(streams) < 2:
        windows = [s.advance() for s in streams]
        return _complete(streams, windows, _scores(classifier, windows))
    scoring = []
    for part in (streams[: len(streams) // 2], streams[len(streams) // 2 :]):
        windows = [s.advance() for s in part]
        scoring.append((part, windows, model_thread.submit(_scores, classifier, windows)))
    return [events for part, windows, scores in scoring for events in _complete(part, windows, scores.result())]


def step_windows(streams: int) -> int:
    """The most windows a step of `streams` streams usually sends the model (what a server warms up for):
    one a stream, or two while adaptive analysis has none agreeing yet (a backlog's more pay for their
    first call once)."""
    return 2 * streams


def _scores(classifier: Scorer, windows: list[list[np.ndarray]]) -> np.ndarray:
    flat = [w for ws in windows for w in ws]
    return classifier.log_probs(flat) if flat else np.zeros((0, 0), dtype=np.float32)


def _complete(streams: list[LanguageStream], windows: list[list[np.ndarray]], scores: np.ndarray) -> list[list[dict]]:
    out, k = [], 0
    for stream, ws in zip(streams, windows, strict=True):
        out.append(stream.complete(scores[k : k + len(ws)]))
        k += len(ws)
    return out


def server_stream_options(stream_options: StreamOptions, options: ServerOptions) -> StreamOptions:
    """The stream options a server's streams get: its ring holds what the server reads before it stops
    (its backlog and one message), not `ring_seconds` (30 s would be 1.9 MB a 16-kHz stream, 29 GB for
    15,000 of them)."""
    ring = min(stream_options.ring_seconds, options.backlog_seconds + options.max_frame_seconds + 1.0)
    return replace(stream_options, ring_seconds=ring)


def settings(stream_options: StreamOptions, options: ServerOptions) -> dict:
    s = asdict(server_stream_options(stream_options, options))
    return {
        "stream": {**s, "languages": list(s["languages"]) if s["languages"] else None},
        "formats": list(FORMATS),
        "max_frame_seconds": options.max_frame_seconds,
        "max_message_bytes": options.max_message_bytes,
        "queue_size": options.queue_size,
        "max_streams": options.max_streams,
        "max_subscribers": options.max_subscribers,
        "max_connections_per_address": options.max_connections_per_address,
    }


class AudioSession:
    """One /audio connection, without I/O: the client's first message must be `start` (checked against
    the model's languages and the server's limits), then binary PCM frames, then `stop`. The driver sends
    `hello` first, passes each message it receives to `start` and then `receive`, scores `stream`, and
    ends the connection when `receive` says so, or with `ProtocolError`'s message and 1008 when a
    message breaks the protocol."""

    def __init__(self, classifier: Scorer, stream_options: StreamOptions, options: ServerOptions) -> None:
        self.classifier, self.stream_options, self.options = classifier, stream_options, options
        self.format: AudioFormat | None = None
        self.stream: LanguageStream | None = None

    def start(self, message: str | bytes, streams_open: int, closing: bool) -> LanguageStream:
        """The first message: the stream it asks for (its format in `format`)."""
        if not isinstance(message, str):
            raise ProtocolError("send a start message before any audio")
        fmt = parse_start(parse_message(message, ["start"]), self.classifier.languages)
        if closing:
            raise ProtocolError("the server is shutting down")
        if streams_open >= self.options.max_streams:
            raise ProtocolError(f"the server is at its limit of {self.options.max_streams} audio streams")
        o = server_stream_options(self.stream_options, self.options)
        options = replace(
            o,
            languages=fmt.languages or o.languages,
            unknown=o.unknown if fmt.unknown is None else fmt.unknown,
            prefer=o.prefer if fmt.prefer is None else fmt.prefer,
            steady_hop=o.steady_hop if fmt.steady_hop is None else float(fmt.steady_hop),
        )
        self.format = fmt
        self.stream = LanguageStream(self.classifier, fmt.sample_rate, fmt.channels, options)
        return self.stream

    def started(self, sid: str) -> str:
        """The reply to `start`, once the stream has its id."""
        return to_json({"type": "started", "stream": sid, **asdict(self.format)})

    def receive(self, message: str | bytes) -> bool:
        """A message after `start`: PCM goes into the stream (True: keep reading); `stop` ends it (False)."""
        if isinstance(message, str):
            parse_message(message, ["stop"])
            return False
        self.stream.write(decode_frame(message, self.format, self.options.max_frame_seconds))
        return True

    def backlogged(self) -> bool:
        """More unanalysed audio than the server holds per stream: stop reading until the model catches up."""
        return len(self.stream.ring) > self.options.backlog_seconds * self.format.sample_rate
