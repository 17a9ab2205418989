"""Hostile clients and limits against the websocket server, over real connections on 127.0.0.1.

Each bad client is refused or cut off with a clear close code while a good stream runs beside it; a
healthy subscriber must see every one of the good stream's events (gapless `seq`) and its summary.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import socket
import struct
import time

import numpy as np
import pytest
from support import CLIPS, check_events, running
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from streamlid.serving import server as server_module
from streamlid.serving.client import send_file
from streamlid.serving.protocol import ServerOptions, authorised

pytestmark = pytest.mark.e2e  # end-to-end: real servers, processes, models over whole clips

START = json.dumps({"type": "start", "sample_rate": 16000})


async def collect(ws, until_summaries: int, timeout: float = 30.0) -> list[dict]:
    """A subscriber's messages until it has seen this many summaries."""
    out: list[dict] = []
    async with asyncio.timeout(timeout):
        async for text in ws:
            out.append(json.loads(text))
            if sum(m["type"] == "summary" for m in out) == until_summaries:
                return out
    return out


def events_of(messages: list[dict], sid: str) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "stream"} for m in messages if m.get("stream") == sid and "seq" in m]


async def close_code(ws) -> int:
    try:
        async with asyncio.timeout(10):
            async for _ in ws:
                pass
    except ConnectionClosed:
        pass
    return ws.close_code


async def started(url: str):
    ws = await connect(url + "/audio")
    await ws.recv()  # hello
    await ws.send(START)
    msg = json.loads(await ws.recv())
    assert msg["type"] == "started", msg
    return ws, msg["stream"]


def abort_with_reset(ws) -> None:
    """Drop the TCP connection abruptly: RST, no close frame."""
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


def test_sequence_numbers_survive_the_feed_and_send(random_classifier):
    async def main():
        async with running(random_classifier) as (server, url):
            feed = await connect(url + "/events")
            await feed.recv()  # hello
            sent: list[dict] = []
            summary = await send_file(CLIPS["spa"], url + "/audio", sent.extend, realtime=False)
            got = await collect(feed, 1)
            await feed.close()
            return sent, summary, got

    sent, summary, got = asyncio.run(main())
    sid = next(m["stream"] for m in got if m["type"] == "open")
    fed = events_of(got, sid)
    check_events(sent, random_classifier.languages)
    check_events(fed, random_classifier.languages)
    assert fed == sent and sent[-1] == summary and len(sent) > 5


def test_hostile_clients_are_cut_off_and_a_good_stream_never_notices(random_classifier):
    async def main():
        limits = {"ping_interval": 1.0, "ping_timeout": 1.0, "close_timeout": 1.0, "max_frame_seconds": 1.0}
        async with running(random_classifier, **limits) as (server, url):
            healthy = await connect(url + "/events")
            await healthy.recv()  # hello
            healthy_reads = asyncio.create_task(collect(healthy, 6))  # the good stream and five bad ones
            good: list[dict] = []
            good_task = asyncio.create_task(send_file(CLIPS["deu"], url + "/audio", good.extend, realtime=True))
            codes = {}

            feed = await connect(url + "/events")  # a feed client that talks
            await feed.recv()
            await feed.send('{"type": "subscribe"}')
            codes["message on the feed"] = await close_code(feed)

            ws, _ = await started(url)  # a text message over the 64 KiB limit
            await ws.send(json.dumps({"type": "stop", "pad": "x" * 70_000}))
            codes["oversized text"] = await close_code(ws)

            ws, _ = await started(url)  # 2 s of audio in one message, limit 1 s
            await ws.send(np.zeros(32000, "<i2").tobytes())
            codes["frame over max_frame_seconds"] = await close_code(ws)

            ws, _ = await started(url)  # thousands of one-sample frames, then a proper stop
            t0 = time.perf_counter()
            for _ in range(5000):
                await ws.send(b"\x01\x00")
            await ws.send('{"type": "stop"}')
            codes["5000 one-sample frames"] = await close_code(ws)
            tiny_seconds = time.perf_counter() - t0

            ws, reset_sid = await started(url)  # abrupt disconnect mid-stream
            await ws.send(np.zeros(1600, "<i2").tobytes())
            await asyncio.sleep(0.2)
            abort_with_reset(ws)

            ws, half_open_sid = await started(url)  # half-open: the client stops reading (and answering pings)
            ws.transport.pause_reading()
            t0 = time.perf_counter()
            async with asyncio.timeout(10):
                while half_open_sid in server.audio:
                    await asyncio.sleep(0.05)
            half_open_seconds = time.perf_counter() - t0
            ws.transport.abort()

            summary = await good_task
            messages = await healthy_reads
            await healthy.close()
            return codes, tiny_seconds, half_open_seconds, good, summary, messages, server

    codes, tiny_seconds, half_open_seconds, good, summary, messages, server = asyncio.run(main())
    print(f"close codes {codes}; 5000 tiny frames {tiny_seconds:.2f} s; half-open cut after {half_open_seconds:.2f} s")
    assert codes["message on the feed"] == 1008
    assert codes["oversized text"] == 1008
    assert codes["frame over max_frame_seconds"] == 1008
    assert codes["5000 one-sample frames"] == 1000 and tiny_seconds < 20
    assert half_open_seconds < 4.0
    check_events(good, random_classifier.languages)
    assert good[-1] == summary and summary["speech_seconds"] > 2
    good_sid = next(m["stream"] for m in messages if m["type"] == "open" and m["label"] == CLIPS["deu"].name)
    assert events_of(messages, good_sid) == good  # the healthy subscriber missed nothing
    assert not any(m["type"] == "missed" for m in messages)
    for sid in {m["stream"] for m in messages if m["type"] == "open"}:  # every stream, even a cut one, ends
        check_events(events_of(messages, sid), random_classifier.languages)
    assert not server.audio and server.feeds == 0


def test_limits_on_subscribers_streams_and_connections_per_address(random_classifier):
    async def main():
        limits = {"max_subscribers": 2, "max_streams": 1, "max_connections_per_address": 4}
        async with running(random_classifier, **limits) as (server, url):
            feeds = [await connect(url + "/events") for _ in range(2)]
            extra_feed = await connect(url + "/events")
            refused_feed = json.loads(await extra_feed.recv()), await close_code(extra_feed)
            audio, _ = await started(url)
            extra_audio = await connect(url + "/audio")
            await extra_audio.recv()
            await extra_audio.send(START)
            refused_audio = json.loads(await extra_audio.recv()), await close_code(extra_audio)
            fourth = await connect(url + "/audio")  # 2 feeds + 2 audio = 4 from 127.0.0.1 (this one idles in hello)
            with pytest.raises(InvalidStatus) as fifth:
                async with connect(url + "/events"):
                    pass
            for ws in [*feeds, audio, fourth]:
                await ws.close()
            await asyncio.sleep(0.2)
            again = await connect(url + "/events")  # the slots are free again
            hello = json.loads(await again.recv())
            await again.close()
            return refused_feed, refused_audio, fifth.value.response, hello

    (feed_msg, feed_code), (audio_msg, audio_code), fifth, hello = asyncio.run(main())
    assert feed_code == 1013 and "limit of 2 subscribers" in feed_msg["error"]
    assert audio_code == 1008 and "limit of 1 audio streams" in audio_msg["error"]
    assert fifth.status_code == 429 and b"at most 4 connections from one address" in fifth.body
    assert hello["type"] == "hello" and hello["settings"]["max_subscribers"] == 2


def test_the_static_route_cannot_escape_its_folder(random_classifier):
    paths = ["/../server.py", "/static/../server.py", "/%2e%2e/model.py", "/..%2fserver.py", "//etc/passwd"]

    async def get(port: int, path: str) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        return head.split(b"\r\n")[0]

    async def main():
        async with running(random_classifier) as (server, url):
            return [await get(server.port, p) for p in paths], await get(server.port, "/")

    escapes, page = asyncio.run(main())
    assert page == b"HTTP/1.1 200 OK"
    assert escapes == [b"HTTP/1.1 404 Not Found"] * len(paths)
    assert set(server_module.STATIC_FILES) == {"/", "/app.js", "/style.css", "/mic-worklet.js", "/protocol.schema.json"}


def test_remote_binding_needs_a_token_or_the_explicit_override(monkeypatch):
    with pytest.raises(ValueError, match="needs a token"):
        ServerOptions(host="0.0.0.0")
    assert ServerOptions(host="0.0.0.0", allow_remote_without_token=True).token is None
    for key in ("max_subscribers", "max_connections_per_address", "max_message_bytes"):
        with pytest.raises(ValueError, match="must be at least 1"):
            ServerOptions(**{key: 0})
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))

    class Request:
        path, headers = "/events?token=guess", {}

    assert not authorised("s3cret", Request())
    assert compared == [(b"guess", b"s3cret")]  # the one comparison is hmac's constant-time one
