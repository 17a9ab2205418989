"""The websocket server and client over real connections on 127.0.0.1, with a real model and real speech."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support import CLIPS, RIGHT, running, validate_message
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from streamlid.core.audio import read_audio
from streamlid.core.stream import LanguageStream, StreamOptions
from streamlid.model.checkpoint import DEFAULT_MODEL
from streamlid.model.classifier import Classifier
from streamlid.serving.client import ClientError, send_file
from streamlid.serving.protocol import (
    AudioFormat,
    Outbox,
    ProtocolError,
    ServerOptions,
    decode_frame,
    parse_host_port,
    parse_message,
    parse_start,
    settings,
)
from streamlid.serving.server import LiveServer

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (test extra) validates the protocol messages")

ROOT = Path(__file__).resolve().parents[2]
REAL_MODEL = DEFAULT_MODEL
LANGS = ["eng", "deu", "fra", "spa", "cmn", "rus"]

validate = validate_message


@pytest.fixture(scope="module")
def model_path(random_model) -> Path:
    return random_model


@pytest.fixture(scope="module")
def classifier(model_path) -> Classifier:
    return Classifier.load(model_path, "cpu")


async def read_until_summary(ws, timeout: float = 30.0) -> list[dict]:
    out = []
    async with asyncio.timeout(timeout):
        async for text in ws:
            out.append(json.loads(text))
            if out[-1]["type"] == "summary":
                return out
    return out


# -- the protocol core ----------------------------------------------------------------------------
def test_parse_start_accepts_a_good_start_and_names_what_is_wrong():
    fmt = parse_start({"type": "start", "sample_rate": 44100, "channels": 2, "format": "float32"}, LANGS)
    assert fmt == AudioFormat(44100, 2, "float32", None, "")
    assert parse_start({"type": "start", "sample_rate": 16000, "languages": ["deu", "fra"]}, LANGS).languages == (
        "deu",
        "fra",
    )
    for msg, words in [
        ({"type": "start"}, "sample_rate must be an integer"),
        ({"type": "start", "sample_rate": "16k"}, 'not "16k"'),
        ({"type": "start", "sample_rate": True}, "sample_rate"),
        ({"type": "start", "sample_rate": 16000, "channels": 0}, "channels"),
        ({"type": "start", "sample_rate": 16000, "format": "int8"}, "format must be int16 or float32"),
        ({"type": "start", "sample_rate": 16000, "languages": ["deu", "xxx"]}, "unknown language(s) xxx"),
        ({"type": "start", "sample_rate": 16000, "languages": "deu"}, "languages must be a list"),
        ({"type": "start", "sample_rate": 16000, "prefer": "deu"}, "prefer must be a list"),
        ({"type": "start", "sample_rate": 16000, "prefer": ["xxx"]}, "unknown preferred language(s) xxx"),
        ({"type": "start", "sample_rate": 16000, "steady_hop": -1}, "steady_hop must be a number"),
        ({"type": "start", "sample_rate": 16000, "steady_hop": "1"}, "steady_hop must be a number"),
        ({"type": "start", "sample_rate": 16000, "rate": 1}, "unknown field(s) rate"),
        ({"type": "start", "sample_rate": 16000, "label": "\ud800"}, "label must be"),  # JSON allows it, UTF-8 not
    ]:
        with pytest.raises(ProtocolError) as e:
            parse_start(msg, LANGS)
        assert words in str(e.value) and "\n" not in str(e.value)


def test_parse_message_and_decode_frame_errors_are_one_line():
    assert parse_message('{"type": "stop"}', ["stop"]) == {"type": "stop"}
    for text, words in [
        ("{", "not JSON"),
        ("[1]", "JSON object"),
        ('{"type": "pause"}', "unexpected message type 'pause'"),
        ("x" * 70000, "too long"),
    ]:
        with pytest.raises(ProtocolError) as e:
            parse_message(text, ["stop"])
        assert words in str(e.value)
    fmt = AudioFormat(16000, 2, "int16")
    pcm = decode_frame(np.arange(8, dtype="<i2").tobytes(), fmt, 5.0)
    assert pcm.shape == (4, 2) and pcm[1, 1] == 3
    with pytest.raises(ProtocolError, match="6 bytes is not a whole number of frames"):
        decode_frame(b"\0" * 6, fmt, 5.0)
    with pytest.raises(ProtocolError, match="too long"):
        decode_frame(b"\0" * 4 * 16000 * 6, fmt, 5.0)


def test_outbox_drops_the_oldest_and_reports_how_many():
    box = Outbox(3)
    for i in range(5):
        box.put(str(i))
    assert box.take() == ['{"type":"missed","count":2}', "2", "3", "4"]
    box.put("5")
    assert box.take() == ["5"] and not box


def test_binding_beyond_loopback_needs_a_token_and_addresses_parse():
    with pytest.raises(ValueError, match="needs a token"):
        ServerOptions(host="0.0.0.0")
    assert ServerOptions(host="0.0.0.0", token="t").token == "t"
    assert ServerOptions(host="::1").token is None
    with pytest.raises(ValueError, match="port must be from 0 to 65535"):
        ServerOptions(port=99999)
    assert parse_host_port("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_host_port(":9000") == ("127.0.0.1", 9000)
    assert parse_host_port("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError, match="bad address"):
        parse_host_port("host:port")


# -- audio in, events out --------------------------------------------------------------------------
def test_audio_stream_and_feed_follow_the_schema(classifier):
    async def main():
        async with running(classifier) as (server, url):
            async with connect(url + "/events") as feed:
                hello = json.loads(await feed.recv())
                validate(hello)
                assert hello["role"] == "feed" and hello["languages"] == LANGS and hello["streams"] == []
                got: list[dict] = []
                summary = await send_file(CLIPS["deu"], url + "/audio", got.extend, realtime=False)
                fed = await read_until_summary(feed)
        return got, summary, fed

    got, summary, fed = asyncio.run(main())
    assert summary["type"] == "summary" and got[-1] is summary
    assert [e["seq"] for e in got] == list(range(len(got)))  # every event, in order, no gaps
    assert {"posteriors", "decision", "vad"} <= {e["type"] for e in got}
    assert all("stream" not in e for e in got)  # the client gives back events.py's schema
    assert fed[0]["type"] == "open" and fed[0]["label"] == CLIPS["deu"].name
    for msg in fed:
        validate(msg)
    events = [m for m in fed if m["type"] != "open"]
    assert [{k: v for k, v in m.items() if k != "stream"} for m in events] == got
    # the same stream through the core directly gives the same events
    audio, rate = read_audio(CLIPS["deu"])
    direct = LanguageStream(classifier, rate, 1)
    expected = direct.push(audio) + direct.close()
    assert [e["type"] for e in expected] == [e["type"] for e in got]
    assert expected[-1]["top"] == summary["top"]


class FailsOnce:
    """The classifier, except that its first call with windows raises (a model failure in one step)."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier, self.failed = classifier, False

    def __getattr__(self, name: str):
        return getattr(self.classifier, name)

    def log_probs(self, windows: list[np.ndarray]) -> np.ndarray:
        if windows and not self.failed:
            self.failed = True
            raise RuntimeError("the model failed once")
        return self.classifier.log_probs(windows)


def test_a_failed_step_is_tried_again_at_the_next_step_whichever_stream_sends(classifier):
    """Stream A sends speech and then nothing; its first step fails. Its windows are scored at a later
    step that stream B's audio brings, not only once A sends again."""
    audio, rate = read_audio(CLIPS["deu"])
    pcm = (audio[:, 0] * 32767).astype("<i2")
    # every hop analysed: A's one step takes in all its audio, so nothing is left pending to bring it back
    start = {"type": "start", "sample_rate": rate, "format": "int16", "steady_hop": 0}
    scorer = FailsOnce(classifier)

    async def main():
        async with running(scorer) as (server, url), connect(url + "/audio") as a, connect(url + "/audio") as b:
            for ws in (a, b):
                await ws.recv()  # hello
                await ws.send(json.dumps(start))
                await ws.recv()  # started
            await a.send(pcm[: 3 * rate].tobytes())
            async with asyncio.timeout(10):
                while not scorer.failed:
                    await asyncio.sleep(0.01)
            for i in range(0, 3 * rate, rate // 10):  # B goes on sending; A sends nothing more
                await b.send(pcm[i : i + rate // 10].tobytes())
                await asyncio.sleep(0.01)
            async with asyncio.timeout(10):
                while (event := json.loads(await a.recv()))["type"] != "posteriors":
                    pass
            return event

    assert asyncio.run(main())["type"] == "posteriors"


def test_int16_stereo_client_gets_started_and_its_summary(classifier):
    audio, rate = read_audio(CLIPS["fra"])
    stereo = (np.repeat(audio, 2, axis=1) * 32767).astype("<i2")

    async def main():
        async with running(classifier) as (server, url), connect(url + "/audio") as ws:
            validate(json.loads(await ws.recv()))
            start = {
                "type": "start",
                "sample_rate": rate,
                "channels": 2,
                "format": "int16",
                "languages": ["fra", "deu"],
            }
            validate(start, "client_message")
            await ws.send(json.dumps(start))
            started = json.loads(await ws.recv())
            for i in range(0, len(stereo), rate // 10):
                await ws.send(stereo[i : i + rate // 10].tobytes())
            await ws.send(json.dumps({"type": "stop"}))
            msgs = await read_until_summary(ws)
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return started, msgs, ws.close_code

    started, msgs, code = asyncio.run(main())
    validate(started)
    assert started["stream"] == "s1" and started["channels"] == 2 and started["languages"] == ["fra", "deu"]
    assert msgs[-1]["type"] == "summary" and msgs[-1]["speech_seconds"] > 2
    assert all(set(m["probs"]) == {"fra", "deu"} for m in msgs if m["type"] == "posteriors")
    assert code == 1000


@pytest.mark.e2e
def test_concurrent_streams_share_batched_forward_passes(model_path):
    class Recording(Classifier):
        batches: list[int] = []

        def log_probs(self, windows):
            self.batches.append(len(windows))
            return super().log_probs(windows)

    recording = Recording.load(model_path, "cpu")

    async def main():
        async with running(recording) as (server, url):
            return await asyncio.gather(*(send_file(clip, url + "/audio", realtime=True) for clip in CLIPS.values()))

    summaries = asyncio.run(main())
    assert [s["type"] for s in summaries] == ["summary"] * 3
    assert all(s["speech_seconds"] > 2 for s in summaries)
    assert max(Recording.batches) >= 2  # windows of different streams went through one call


# -- bad clients -----------------------------------------------------------------------------------
@pytest.mark.e2e
def test_bad_clients_get_clear_errors_and_never_disturb_a_good_stream(classifier):
    async def bad(url: str, first, then=None, **kw) -> tuple[dict, int]:
        async with connect(url + "/audio", **kw) as ws:
            await ws.recv()  # hello
            await ws.send(first)
            if then is not None:
                await ws.recv()  # started
                await ws.send(then)
            msgs = []
            try:
                async for text in ws:
                    msgs.append(json.loads(text))
            except ConnectionClosed:
                pass
            return msgs[-1] if msgs else {}, ws.close_code

    start = json.dumps({"type": "start", "sample_rate": 16000})

    async def main():
        async with running(classifier, max_message_bytes=100_000) as (server, url):
            good = asyncio.create_task(send_file(CLIPS["spa"], url + "/audio", realtime=True))
            results = [
                await bad(url, b"\0\0"),
                await bad(url, '{"type": "start", "sample_rate": 16000, "format": "mp3"}'),
                await bad(url, "not json"),
                await bad(url, start, b"\0\0\0"),
                await bad(url, start, '{"type": "hello"}'),
                await bad(url, start, b"\0" * 200_000),
            ]
            return results, await good

    results, summary = asyncio.run(main())
    for msg, _ in results[:-1]:
        validate(msg)
    assert [code for _, code in results] == [1008, 1008, 1008, 1008, 1008, 1009]
    assert "send a start message before any audio" in results[0][0]["error"]
    assert "format must be int16 or float32" in results[1][0]["error"]
    assert "not JSON" in results[2][0]["error"]
    assert "3 bytes is not a whole number of frames" in results[3][0]["error"]
    assert "unexpected message type 'hello'" in results[4][0]["error"]
    assert summary["type"] == "summary" and summary["speech_seconds"] > 2  # the good stream went on


def test_token_and_origin_are_checked_at_the_handshake(classifier):
    async def main():
        async with running(classifier, token="s3cret") as (server, url):
            codes = []
            for kw in [
                {"uri": url + "/events"},
                {"uri": url + "/events?token=wrong"},
                {"uri": url + "/events?token=s3cret", "origin": "http://evil.example"},
                {"uri": url + "/nowhere?token=s3cret"},
            ]:
                with pytest.raises(InvalidStatus) as e:
                    async with connect(**kw):
                        pass
                codes.append(e.value.response.status_code)
            async with connect(url + "/events?token=s3cret") as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
            async with connect(url + "/events", additional_headers={"Authorization": "Bearer s3cret"}) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
            page_origin = f"http://127.0.0.1:{server.port}"
            async with connect(url + "/events?token=s3cret", origin=page_origin) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
            return codes

    assert asyncio.run(main()) == [401, 401, 403, 404]


# -- many subscribers, slow subscribers ------------------------------------------------------------
@pytest.mark.e2e
def test_a_slow_subscriber_loses_the_oldest_but_never_stalls_the_others(classifier):
    audio, rate = read_audio(CLIPS["deu"])
    stream = LanguageStream(classifier, rate, 1)
    events = stream.push(audio) + stream.close()
    posteriors = next(e for e in events if e["type"] == "posteriors")
    flood = [{**posteriors, "seq": i} for i in range(20000)] + [events[-1]]

    async def main():
        async with running(classifier, queue_size=64) as (server, url):
            fast = [await connect(url + "/events") for _ in range(20)]
            slow = await connect(url + "/events", max_queue=1)  # stops reading after one message
            for ws in fast:
                await ws.recv()  # hello
            sid = server.open_stream("flood", rate, 1, LANGS)
            t0 = time.perf_counter()
            for i in range(0, len(flood), 500):
                server.publish(sid, flood[i : i + 500])
                await asyncio.sleep(0)
            publish_seconds = time.perf_counter() - t0
            got = await asyncio.gather(*(read_until_summary(ws, timeout=20) for ws in fast))
            late = await read_until_summary(slow, timeout=20)
            for ws in [*fast, slow]:
                await ws.close()
            return publish_seconds, got, late

    publish_seconds, got, late = asyncio.run(main())
    assert publish_seconds < 2.0
    assert all(g[-1]["type"] == "summary" for g in got)  # every fast subscriber got to the end
    missed = [m["count"] for m in late if m["type"] == "missed"]
    assert late[-1]["type"] == "summary" and sum(missed) > 1000  # the slow one lost the oldest, was told
    for msg in late[:3] + late[-3:]:
        validate(msg)


# -- listen --serve, streamlid send, shutdown -------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlid(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "streamlid", *args], env=env, text=True, **kw)


@pytest.mark.e2e
def test_listen_serve_publishes_its_stream_to_subscribers(model_path):
    port = free_port()
    proc = streamlid(
        "listen",
        "--input",
        str(CLIPS["deu"]),
        "--model",
        str(model_path),
        "--json",
        "--serve",
        f"127.0.0.1:{port}",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    async def subscribe():
        for _ in range(100):
            try:
                async with connect(f"ws://127.0.0.1:{port}/events") as ws:
                    hello = json.loads(await ws.recv())
                    return hello, await read_until_summary(ws)
            except OSError:
                await asyncio.sleep(0.1)
        raise AssertionError("the server never came up")

    hello, fed = asyncio.run(subscribe())
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    printed = [json.loads(line) for line in out.splitlines()]
    validate(hello)
    assert hello["streams"][0]["label"].endswith(CLIPS["deu"].name)
    assert fed[-1]["type"] == "summary" and fed[-1] | {"stream": None} == printed[-1] | {"stream": None}
    assert [m["seq"] for m in fed] == [e["seq"] for e in printed[-len(fed) :]]


@pytest.mark.e2e
def test_send_command_prints_json_lines_like_listen(classifier, model_path):
    async def main():
        async with running(classifier) as (server, url):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "streamlid",
                "send",
                str(CLIPS["spa"]),
                "--url",
                url + "/audio",
                "--fast",
                "--json",
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            return proc.returncode, out.decode()

    code, out = asyncio.run(main())
    listen = streamlid(
        "listen", "--input", str(CLIPS["spa"]), "--fast", "--json", "--model", str(model_path), stdout=subprocess.PIPE
    )
    assert code == 0
    assert out == listen.communicate(timeout=30)[0]  # the very same lines as listen --json


def test_send_reports_a_refused_connection_in_one_line(tmp_path):
    wav = tmp_path / "x.wav"
    import soundfile

    soundfile.write(wav, np.zeros(1600, dtype=np.float32), 16000)
    with pytest.raises(ClientError, match="cannot connect to ws://127.0.0.1:"):
        asyncio.run(send_file(wav, f"ws://127.0.0.1:{free_port()}/audio"))


def test_shutdown_ends_open_streams_with_their_summary(classifier):
    async def main():
        server = LiveServer(classifier, ServerOptions(port=0))
        await server.start()
        url = f"ws://127.0.0.1:{server.port}/audio"
        task = asyncio.create_task(send_file(CLIPS["fra"], url, realtime=True))
        await until(lambda: any(s.t >= 1.0 for s in server.audio.values()), within=10.0)  # mid-stream
        await server.close()
        return await task

    summary = asyncio.run(main())
    assert summary["type"] == "summary" and 0.5 < summary["t"] < 3.0


@pytest.mark.e2e
@pytest.mark.skipif(not REAL_MODEL.exists(), reason=f"needs the trained model {REAL_MODEL} (not there yet)")
def test_real_model_names_each_stream_language_over_websockets():
    real = Classifier.load(REAL_MODEL, "cpu")

    async def main():
        async with running(real) as (server, url):
            return await asyncio.gather(*(send_file(c, url + "/audio", realtime=True) for c in RIGHT.values()))

    assert [s["language"] for s in asyncio.run(main())] == list(RIGHT)


async def until(condition, within: float, step: float = 0.02) -> None:
    """Wait for `condition()` to hold, at most `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition did not come true in time"
        await asyncio.sleep(step)


@pytest.mark.e2e
def test_keepalive_drops_a_subscriber_that_stopped_answering(classifier):
    async def main():
        async with running(classifier, ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3) as (server, url):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            assert (await reader.readline()).startswith(b"HTTP/1.1 101")
            async with connect(url + "/events") as alive:  # this one answers pings
                assert json.loads(await alive.recv())["type"] == "hello"  # sent once it is subscribed
                assert len(server.subscribers) == 2
                # a silent peer: no pong, so the server gives up on it (ping 0.2 s + timeout 0.3 s)
                await until(lambda: len(server.subscribers) == 1, within=5.0)
                await asyncio.sleep(0.5)  # several ping rounds later the answering one is still there
                assert len(server.subscribers) == 1 and alive.state.name == "OPEN"
            writer.close()

    asyncio.run(main())


@pytest.mark.e2e
def test_serve_command_runs_until_sigterm_and_ends_streams_cleanly(model_path):
    refused = streamlid("serve", "--host", "0.0.0.0", "--model", str(model_path), stderr=subprocess.PIPE)
    assert refused.wait(timeout=30) == 2 and "needs a token" in refused.stderr.read()
    port = free_port()
    proc = streamlid("serve", "--port", str(port), "--model", str(model_path), stdout=subprocess.PIPE)
    assert "serving on http://127.0.0.1:" in proc.stdout.readline()

    async def main():
        task = asyncio.create_task(send_file(CLIPS["deu"], f"ws://127.0.0.1:{port}/audio", realtime=True))
        await asyncio.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        return await task

    summary = asyncio.run(main())
    assert proc.wait(timeout=15) == 0
    assert summary["type"] == "summary" and 0.5 < summary["t"] < 4.0


@pytest.mark.e2e
def test_a_late_subscriber_gets_the_latest_state_in_its_hello(classifier):
    async def main():
        async with running(classifier) as (server, url):
            task = asyncio.create_task(send_file(CLIPS["spa"], url + "/audio", realtime=True))
            await until(
                lambda: any({"decision", "posteriors"} <= set(s["last"]) for s in server.streams.values()), 10.0
            )
            async with connect(url + "/events?stream=s1") as ws:
                hello = json.loads(await ws.recv())
                rest = await read_until_summary(ws)
            return hello, rest, await task

    hello, rest, summary = asyncio.run(main())
    validate(hello)
    (stream,) = hello["streams"]
    assert stream["stream"] == "s1" and {"decision", "posteriors"} <= set(stream["last"])
    assert rest[0]["seq"] > stream["last"]["posteriors"]["seq"]  # the feed goes on from there
    assert rest[-1]["seq"] == summary["seq"]


def test_hello_names_the_default_model_when_none_was_given():
    server = LiveServer(Classifier.load(compute="cpu"))  # no --model: the shipped one
    assert server.model["name"] == DEFAULT_MODEL.stem == "streamlid-v4"
    assert (
        LiveServer(Classifier.load(REAL_MODEL, compute="cpu"), model="x/custom.safetensors").model["name"] == "custom"
    )


def test_the_server_names_the_model_it_was_given_by_short_name():
    server = LiveServer(Classifier.load("base", "cpu"), ServerOptions(port=0), model="base")
    assert server.model["name"] == "streamlid-v4" and server.model["version"] == "4"


def test_the_server_keeps_its_event_loop_from_starving_the_model_thread(random_classifier):
    """Beside a busy thread, every GIL hand-back of a model call waits up to the switch interval (at Python's
    5 ms, a 77-ms call took 1.4 s: benchmarks/model_thread.py), so the server shortens it, never lengthens it."""
    from streamlid.core.threads import MODEL_THREAD_SWITCH_S, favour_model_thread

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        LiveServer(random_classifier, ServerOptions(port=0))
        assert sys.getswitchinterval() == pytest.approx(MODEL_THREAD_SWITCH_S, rel=0.05)
        sys.setswitchinterval(MODEL_THREAD_SWITCH_S / 2)
        favour_model_thread()
        assert sys.getswitchinterval() == pytest.approx(MODEL_THREAD_SWITCH_S / 2, rel=0.05)
    finally:
        sys.setswitchinterval(before)


def test_audio_session_is_the_protocol_without_io(random_classifier):
    """The state machine both transports drive (server.py's websockets layer, ray_serve's ingress)."""
    from streamlid.serving.protocol import AudioSession

    options = ServerOptions(max_streams=2, backlog_seconds=1.0)
    session = AudioSession(random_classifier, StreamOptions(), options)
    with pytest.raises(ProtocolError, match="start message before any audio"):
        session.start(b"\x00\x00", streams_open=0, closing=False)
    start = json.dumps(
        {
            "type": "start",
            "sample_rate": 8000,
            "channels": 2,
            "format": "int16",
            "unknown": False,
            "prefer": ["deu"],
            "steady_hop": 0,
        }
    )
    with pytest.raises(ProtocolError, match="limit of 2 audio streams"):
        session.start(start, streams_open=2, closing=False)
    with pytest.raises(ProtocolError, match="shutting down"):
        session.start(start, streams_open=0, closing=True)

    stream = session.start(start, streams_open=1, closing=False)
    assert (stream.sample_rate, stream.channels, stream.options.unknown) == (8000, 2, False)
    assert stream.options.prefer == ("deu",) and stream.decider.weights[stream.languages.index("deu")] > 1
    assert stream.options.steady_every == 1  # every hop, as asked
    # its ring holds what the driver reads before it stops (the backlog and one message), not 30 s
    assert stream.ring.capacity == (1.0 + options.max_frame_seconds + 1.0) * 8000
    assert settings(StreamOptions(), options)["stream"]["ring_seconds"] == stream.options.ring_seconds  # hello's
    assert json.loads(session.started("s7")) == {
        "type": "started",
        "stream": "s7",
        "sample_rate": 8000,
        "channels": 2,
        "format": "int16",
        "languages": None,
        "unknown": False,
        "prefer": ["deu"],
        "steady_hop": 0,
        "label": "",
    }
    half_second = np.zeros((4000, 2), dtype="<i2").tobytes()
    assert session.receive(half_second) and not session.backlogged()
    assert session.receive(half_second) and session.receive(half_second)
    assert session.backlogged()  # 1.5 s unanalysed > backlog_seconds: the driver stops reading
    stream.advance()
    assert not session.backlogged()
    with pytest.raises(ProtocolError):
        session.receive(json.dumps({"type": "start"}))  # only stop is allowed after start
    assert session.receive(json.dumps({"type": "stop"})) is False


def test_a_step_with_a_model_thread_scores_two_halves_there_with_the_same_events(random_classifier, speech_16k):
    """Given a model thread (a GPU's), a step's model calls run there, one per half of the streams, while
    the other half advances or completes: every stream's events are what the one-call step gives."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from streamlid.serving.protocol import score_together

    class Threads:  # the real model, noting the thread of each call
        languages, open_set, speech_check = random_classifier.languages, False, False

        def __init__(self) -> None:
            self.threads: list[str] = []

        def log_probs(self, windows):
            self.threads.append(threading.current_thread().name)
            return random_classifier.log_probs(windows)

    offsets = [0, 8000, 20000, 36000, 50000]
    runs = []
    with ThreadPoolExecutor(1, thread_name_prefix="gpu") as pool:
        for model_thread in (None, pool):
            scorer = Threads()
            streams = [LanguageStream(scorer) for _ in offsets]
            events = [[] for _ in offsets]
            for start in range(0, 64000, 4000):
                for s, off in zip(streams, offsets, strict=True):
                    s.write(speech_16k[off + start : off + start + 4000])
                due = streams
                while due:
                    for i, es in enumerate(score_together(scorer, due, model_thread)):
                        events[streams.index(due[i])] += es
                    due = [s for s in due if s.pending]
            runs.append((events, scorer.threads))
    (alone, main), (halves, threads) = runs
    assert set(main) == {threading.current_thread().name} and set(threads) == {"gpu_0"}
    assert len(threads) > len(main)  # a call per half (with windows) a step
    for a, b in zip(alone, halves, strict=True):
        assert [(e["type"], e["seq"]) for e in a] == [(e["type"], e["seq"]) for e in b]
        assert any(e["type"] == "posteriors" for e in a)
        for x, y in zip(a, b, strict=True):
            if x["type"] == "posteriors":
                assert np.allclose(list(x["probs"].values()), list(y["probs"].values()), atol=1e-3)
