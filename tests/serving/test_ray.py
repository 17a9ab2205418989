"""streamlid on Ray Serve, on a real local Ray cluster: the protocol of `streamlid serve`, real speech from
several concurrent clients, the same decisions as the single-process server, and a model replica killed
mid-stream without losing a stream or an event."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time

import numpy as np
import pytest
from support import RIGHT, SHIPPED_MODEL
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from streamlid.core.stream import StreamOptions
from streamlid.model.classifier import Classifier
from streamlid.serving.client import send_file
from streamlid.serving.server import LiveServer, ServerOptions

ray = pytest.importorskip("ray", reason="Ray Serve is optional: pip install 'streamlid[ray]'")
serve = pytest.importorskip("ray.serve", reason="Ray Serve is optional: pip install 'streamlid[ray]'")
from streamlid.serving.ray_serve import RemoteClassifier, application  # noqa: E402  (needs ray)

pytestmark = pytest.mark.e2e  # end-to-end: real servers, processes, models over whole clips

TOKEN = "t0k"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_url():
    """One local Ray cluster and the streamlid application on it: an ingress and one model replica."""
    if not SHIPPED_MODEL.is_file():
        pytest.skip("the shipped model is not there")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False)
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        app = application(
            ServerOptions(port=port, token=TOKEN),
            StreamOptions(),
            SHIPPED_MODEL,
            compute="cpu",
            threads=1,
            scorer_config={"num_replicas": 1, "autoscaling_config": None, "ray_actor_options": {"num_cpus": 0.5}},
            int8=False,  # dynamic int8 scales activations per batch: Serve's batches would change the scores
        )
        serve.run(app, name="streamlid", route_prefix="/")
        yield f"ws://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def stream_all(url: str, realtime: bool, during=None) -> list[list[dict]]:
    """Stream the RIGHT clips concurrently; each client's events in order (the last is its summary)."""

    async def main():
        events = [[] for _ in RIGHT]
        sends = [
            send_file(path, url + "/audio", events[i].extend, realtime=realtime, token=TOKEN)
            for i, path in enumerate(RIGHT.values())
        ]
        await asyncio.wait_for(asyncio.gather(*sends, *([during()] if during else [])), 120)
        return events

    return asyncio.run(main())


def assert_complete(events: list[dict]) -> None:
    assert [e["seq"] for e in events] == list(range(len(events)))  # no event lost, none twice
    assert events[-1]["type"] == "summary"
    assert not [e for e in events if e["type"] == "dropped"]  # the drop policy (ring overflow) never fired


def assert_same(a, b, path: str = "") -> None:
    """Equal events, probabilities to 1e-3 (the batches that carried the windows differ)."""
    if isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, abs_tol=1e-3), f"{path}: {a} != {b}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{path}: {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_concurrent_clients_get_their_languages_and_the_feed_sees_every_stream(ray_url):
    async def feed_until(n: int, subscribed: asyncio.Event) -> list[dict]:
        async with connect(f"{ray_url}/events?token={TOKEN}") as ws:
            hello = json.loads(await ws.recv())  # sent once the subscriber is registered
            assert hello["type"] == "hello" and hello["model"]["name"] == "streamlid-v4"
            subscribed.set()
            got = []
            while sum(m["type"] == "summary" for m in got) < n:
                got.append(json.loads(await ws.recv()))
            return got

    async def main():
        subscribed = asyncio.Event()
        feed = asyncio.create_task(feed_until(len(RIGHT), subscribed))
        await asyncio.wait_for(subscribed.wait(), 30)  # the subscriber is in before the streams open
        clients = await asyncio.to_thread(stream_all, ray_url, True)
        return clients, await asyncio.wait_for(feed, 30)

    clients, fed = asyncio.run(main())
    assert [events[-1]["language"] for events in clients] == list(RIGHT)
    for events in clients:
        assert_complete(events)
    assert len({m["stream"] for m in fed if m["type"] == "open"}) == len(RIGHT)
    assert sorted(m["language"] for m in fed if m["type"] == "summary") == sorted(RIGHT)


def test_same_events_as_the_single_process_server(ray_url):
    async def local():
        server = LiveServer(Classifier.load(SHIPPED_MODEL, "cpu", int8=False), ServerOptions(port=0, token=TOKEN))
        await server.start()
        try:
            return await asyncio.to_thread(stream_all, f"ws://127.0.0.1:{server.port}", False)
        finally:
            await server.close()

    expected = asyncio.run(local())
    got = stream_all(ray_url, False)
    assert_same(got, expected)
    assert [events[-1]["language"] for events in got] == list(RIGHT)


def test_a_token_is_checked_at_the_handshake(ray_url):
    async def main():
        async with connect(f"{ray_url}/events"):
            pass

    with pytest.raises(InvalidStatus) as e:
        asyncio.run(main())
    assert e.value.response.status_code == 401 and b"token" in e.value.response.body


def scorer_replicas() -> list[tuple[str, str]]:
    return [
        (a["name"], a["namespace"])
        for a in ray.util.list_named_actors(all_namespaces=True)
        if "Scorer" in a["name"] and "REPLICA" in a["name"]
    ]


def test_killing_the_model_replica_mid_stream_loses_no_stream_and_no_event(ray_url):
    [(name, namespace)] = scorer_replicas()
    killed_at: list[float] = []

    async def kill_soon():
        await asyncio.sleep(2.0)
        ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
        killed_at.append(time.monotonic())

    started = time.monotonic()
    clients = stream_all(ray_url, True, kill_soon)
    assert killed_at, "the replica was not killed"
    assert [events[-1]["language"] for events in clients] == list(RIGHT)
    for events in clients:
        assert_complete(events)
        # the events went on after the kill: windows from past the kill's point in the audio were scored
        assert max(e["t"] for e in events if e["type"] == "posteriors") > killed_at[0] - started
    [(new, _)] = scorer_replicas()
    assert new != name  # Serve replaced the replica, and the retried windows went to the new one


def test_a_call_in_flight_when_its_replica_dies_is_sent_again_and_answered_right(ray_url):
    [(name, namespace)] = scorer_replicas()
    local = Classifier.load(SHIPPED_MODEL, "cpu", int8=False)
    windows = list(np.random.default_rng(0).standard_normal((600, 16000), dtype=np.float32) * 0.1)
    remote = RemoteClassifier(serve.get_deployment_handle("Scorer", "streamlid"), local.info, "cpu")
    got: list[tuple[np.ndarray, float]] = []
    call = threading.Thread(target=lambda: got.append((remote.log_probs(windows), time.monotonic())))
    call.start()
    scorer = serve.get_deployment_handle("Scorer", "streamlid")
    deadline = time.monotonic() + 30
    while scorer.busy.remote().result() == 0:  # the replica is scoring the 600 windows (seconds of work)
        assert time.monotonic() < deadline, "the call never reached the replica"
        time.sleep(0.01)
    ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
    killed_at = time.monotonic()
    call.join(60)
    assert got, "the call did not come back"
    scores, answered_at = got[0]
    assert answered_at > killed_at  # the call was in flight when its replica died
    np.testing.assert_allclose(scores, local.log_probs(windows), atol=1e-4)
    assert [n for n, _ in scorer_replicas()] != [name]
