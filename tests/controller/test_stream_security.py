"""The live stream on a shared host (issue 14, item 2): nothing read from the network is
unpickled, a forged message is at worst parsed as data, the stream stays on loopback unless
allowed, and with CurveZMQ keys a publisher or subscriber without them gets nothing.
"""

import json
import logging
import math
import pickle
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from waiting import wait_until
from controller.execution.proxy import (
    AUTHORIZED, CLIENT_SECRET, SERVER_KEY, SERVER_SECRET, CurveKeys, create_stream_keys, deserialize_document,
    serialize_document,
)
from controller.ui.cli import main
from controller.ui.monitor import MonitorState
from controller.ui.stream import (
    DOCUMENT_PREFIX, EVENT_TOPIC, CampaignStream, StreamSettings, document_deserializer, subscribe_events,
)
from core import ConfigError

ANY = "tcp://127.0.0.1:0"
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"


class _Exploit:
    """Unpickling this creates ``path``: the proof that a reader executed a forged message."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


class _Dispatcher:
    """A standard bluesky ``RemoteDispatcher`` with our JSON deserializer, in a thread."""

    def __init__(self, address: str, **kwargs):
        from bluesky.callbacks.zmq import RemoteDispatcher

        self.docs: list[tuple[str, dict]] = []
        self.dispatcher = RemoteDispatcher(address, prefix=DOCUMENT_PREFIX, deserializer=document_deserializer,
                                           **kwargs)
        self.dispatcher.subscribe(lambda name, doc: self.docs.append((name, doc)))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.dispatcher.start()
        except BaseException:  # noqa: BLE001 - cancelled by stop()
            pass

    def stop(self):
        wait_until(lambda: self.dispatcher._task is not None, 5, "the dispatcher to start")
        self.dispatcher.loop.call_soon_threadsafe(self.dispatcher._task.cancel)
        self.thread.join(timeout=5)


# ------------------------------------------------------------------------------ wire format
def test_documents_travel_as_json_with_numpy_values_as_lists_and_numbers():
    doc = {"uid": "u", "data": {"spectrum": np.arange(3.0), "t": np.float32(1.5), "n": np.int64(7),
                                "missing": math.nan}, "hints": ("a", "b")}
    body = serialize_document(doc)
    back = deserialize_document(body)
    assert back["data"]["spectrum"] == [0.0, 1.0, 2.0] and back["data"]["t"] == 1.5 and back["data"]["n"] == 7
    assert math.isnan(back["data"]["missing"]) and back["hints"] == ["a", "b"]
    assert document_deserializer is deserialize_document
    with pytest.raises(TypeError, match="not JSON serializable"):
        serialize_document({"bad": threading.Lock()})


@pytest.mark.parametrize("body", [
    pytest.param(pickle.dumps({"uid": "u"}), id="pickle"),
    pytest.param(b"[1, 2]", id="json-list"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
    pytest.param(b"{", id="truncated"),
])
def test_anything_but_a_json_object_is_refused(body):
    with pytest.raises(ValueError):
        deserialize_document(body)


# ------------------------------------------------------------------------------ forged messages
def test_forged_messages_are_never_executed_and_at_worst_parsed_as_data(tmp_path, caplog):
    from controller.execution.queueserver.feed import REQUEST_KEY, DocumentFeed

    marker = tmp_path / "pwned"
    exploit = pickle.dumps(_Exploit(marker))
    with CampaignStream(StreamSettings(ANY, ANY), campaign="real") as stream:
        events = subscribe_events(stream.proxy_out)
        feed = DocumentFeed(stream.proxy_out)
        inbox = feed.expect("mine")
        dispatcher = _Dispatcher(stream.proxy_out)
        context = zmq.Context()
        forger = context.socket(zmq.PUB)
        forger.setsockopt(zmq.LINGER, 0)
        forger.connect(stream.proxy_in)
        try:
            heard = {"events": False}

            def poke():  # until every subscriber (and the forger's connection) is live
                stream.event("probe", {})
                stream.document("start", {"uid": "probe", "time": 0.0, REQUEST_KEY: "nobody"})
                heard["events"] |= events.receive(0) is not None

            wait_until(lambda: heard["events"] and dispatcher.docs and feed.received, 30, "the subscribers", poke)
            while events.receive(0.2) is not None:
                pass
            with caplog.at_level(logging.WARNING):
                for _ in range(3):  # PUB/SUB may drop the forger's first messages while it connects
                    forger.send(b" ".join([DOCUMENT_PREFIX, b"start", exploit]))
                    forger.send(b" ".join([EVENT_TOPIC, b"campaign_finished", exploit]))
                    forger.send(b" ".join([EVENT_TOPIC, b"campaign_finished",
                                           json.dumps({"kind": "campaign_finished", "campaign": "real",
                                                       "reason": "forged"}).encode()]))
                    time.sleep(0.1)
                # A genuine run after the forgery still arrives: no reader thread died.
                stream.document("start", {"uid": "r1", "time": 1.0, REQUEST_KEY: "mine"})
                got = []
                wait_until(lambda: any(e["kind"] == "campaign_finished" for e in got), 10, "the forged event",
                            lambda: got.extend(e for e in [events.receive(0.05)] if e is not None))
                name, doc = inbox.get(timeout=10)
                wait_until(lambda: any(d.get("uid") == "r1" for _, d in dispatcher.docs), 10, "the genuine run")
        finally:
            dispatcher.stop()
            forger.close()
            context.term()
            feed.close()
            events.close()

    assert not marker.exists(), "a reader unpickled a forged message"
    forged = next(e for e in got if e["kind"] == "campaign_finished")
    assert forged == {"kind": "campaign_finished", "campaign": "real", "reason": "forged"}  # plain data
    state = MonitorState(campaign="real")
    assert state.apply(forged["kind"], forged) and state.reason == "forged"  # a display, nothing more
    assert (name, doc["uid"]) == ("start", "r1")
    assert all(isinstance(d, dict) for _, d in dispatcher.docs)
    assert events.malformed >= 1
    assert "not a JSON event" in caplog.text and "qserver document feed: dropped a message" in caplog.text


# ------------------------------------------------------------------------------ addresses
@pytest.mark.parametrize("address, allowed", [
    pytest.param("tcp://127.0.0.1:6001", True, id="127.0.0.1"),
    pytest.param("tcp://127.0.0.2:6001", True, id="127.0.0.2"),
    pytest.param("tcp://localhost:6001", True, id="localhost"),
    pytest.param("tcp://[::1]:6001", True, id="ipv6-loopback"),
    pytest.param("tcp://0.0.0.0:6001", False, id="all-interfaces"),
    pytest.param("tcp://*:6001", False, id="star"),
    pytest.param("tcp://192.168.1.20:6001", False, id="lan"),
    pytest.param("tcp://labpc.example.org:6001", False, id="host-name"),
])
def test_only_loopback_without_an_explicit_option(address, allowed):
    if allowed:
        settings = StreamSettings(address, "tcp://127.0.0.1:6002")
        assert not settings.remote and settings.exposure_warning() is None
        return
    with pytest.raises(ConfigError) as info:
        StreamSettings(address, "tcp://127.0.0.1:6002")
    assert info.value.issues[0].field == "stream.proxy_in (or $SDL_ZMQ_IN)"
    assert "--stream-remote" in str(info.value) and "\n" not in str(info.value)
    # Allowed explicitly, it still needs keys.
    with pytest.raises(ConfigError, match=r"stream\.curve_dir.*sdl stream keys"):
        StreamSettings(address, "tcp://127.0.0.1:6002", allow_remote=True)


def test_a_remote_stream_with_keys_is_allowed_with_a_warning(tmp_path, monkeypatch):
    create_stream_keys(tmp_path)
    monkeypatch.setenv("SDL_ZMQ_OUT", "tcp://0.0.0.0:6002")
    monkeypatch.setenv("SDL_ZMQ_CURVE_DIR", str(tmp_path))
    settings = StreamSettings("tcp://127.0.0.1:6001", allow_remote=True)
    assert settings.remote and settings.curve_dir == str(tmp_path)
    warning = settings.exposure_warning()
    assert warning.startswith("warning:") and "0.0.0.0:6002" in warning and "\n" not in warning
    with pytest.raises(ConfigError, match=r"stream\.curve_dir"):
        StreamSettings("tcp://127.0.0.1:6001", "tcp://127.0.0.1:6002", curve_dir=str(tmp_path / "nowhere"))


def test_cli_refuses_all_interfaces_with_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SDL_ZMQ_IN", "tcp://0.0.0.0:5577")
    store = tmp_path / "records.sqlite"
    assert main(["run", str(CONFIG), "--stream", "--quiet", "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "stream.proxy_in" in err and "0.0.0.0" in err
    assert not store.exists() and list(tmp_path.iterdir()) == []
    assert main(["monitor", "--duration", "0"]) == 2  # the monitor reads the same settings


def test_stream_keys_command_writes_a_usable_key_directory(tmp_path, capsys):
    assert main(["stream", "keys", str(tmp_path)]) == 0
    for name in (SERVER_KEY, SERVER_SECRET, "client.key", CLIENT_SECRET, f"{AUTHORIZED}/client.key"):
        assert (tmp_path / name).is_file(), name
    assert (tmp_path / SERVER_SECRET).stat().st_mode & 0o077 == 0
    keys = CurveKeys.load(tmp_path)
    assert keys.server_secret is not None and keys.client_public != keys.server_public
    before = (tmp_path / SERVER_SECRET).read_bytes()
    assert main(["stream", "keys", str(tmp_path)]) == 0 and "nothing written" in capsys.readouterr().out
    assert (tmp_path / SERVER_SECRET).read_bytes() == before  # never replaced
    assert main(["stream", "keys", str(tmp_path), "--client", "beamline-2"]) == 0
    assert (tmp_path / AUTHORIZED / "beamline-2.key").is_file()
    assert main(["stream", "keys", str(tmp_path), "--client", "../evil"]) == 2
    assert "--client" in capsys.readouterr().err and not (tmp_path.parent / "evil.key").exists()


# ------------------------------------------------------------------------------ CurveZMQ
@pytest.mark.skipif(not zmq.has("curve"), reason="this libzmq was built without CurveZMQ")
def test_with_keys_only_authorized_clients_publish_or_subscribe(tmp_path):
    import zmq.auth
    from bluesky.callbacks.zmq import ClientCurve

    keys_dir = tmp_path / "keys"
    create_stream_keys(keys_dir)
    stranger_dir = tmp_path / "stranger"  # a valid key pair, never authorized
    stranger_dir.mkdir()
    stranger_public, stranger_secret = zmq.auth.load_certificate(zmq.auth.create_certificates(stranger_dir, "x")[1])
    settings = StreamSettings(ANY, ANY, curve_dir=str(keys_dir))
    keys = settings.keys()
    with CampaignStream(settings, campaign="secure") as stream:
        assert stream.proxy.secure
        keyed = subscribe_events(stream.proxy_out, keys=keys)
        unkeyed = subscribe_events(stream.proxy_out)
        dispatcher = _Dispatcher(stream.proxy_out, curve_config=ClientCurve(keys_dir / CLIENT_SECRET,
                                                                            keys_dir / SERVER_KEY))
        context = zmq.Context()
        no_keys = context.socket(zmq.PUB)
        wrong_keys = context.socket(zmq.PUB)
        wrong_keys.curve_publickey, wrong_keys.curve_secretkey = stranger_public, stranger_secret
        wrong_keys.curve_serverkey = keys.server_public
        for forger in (no_keys, wrong_keys):
            forger.setsockopt(zmq.LINGER, 0)
            forger.connect(stream.proxy_in)
        try:
            heard: list[dict] = []
            strangers: list[dict] = []

            def poke():
                stream.event("probe", {})
                stream.document("start", {"uid": "probe", "time": 0.0})
                for forger, who in ((no_keys, "no-keys"), (wrong_keys, "wrong-keys")):
                    forger.send(b" ".join([EVENT_TOPIC, b"campaign_finished", json.dumps(
                        {"kind": "campaign_finished", "campaign": "secure", "reason": who}).encode()]))
                heard.extend(e for e in [keyed.receive(0)] if e is not None)
                strangers.extend(e for e in [unkeyed.receive(0)] if e is not None)  # while genuine events flow

            wait_until(lambda: len(heard) >= 5 and dispatcher.docs, 30, "the keyed subscribers", poke)
            for _ in range(20):  # the forgers have had every chance to connect
                poke()
                time.sleep(0.05)
            while (event := keyed.receive(0.2)) is not None:
                heard.append(event)
        finally:
            dispatcher.stop()
            for forger in (no_keys, wrong_keys):
                forger.close()
            context.term()
            keyed.close()
            unkeyed.close()
    kinds = {e["kind"] for e in heard}
    assert "probe" in kinds and "campaign_finished" not in kinds, "a forger without the right keys was delivered"
    assert all(e["campaign"] == "secure" for e in heard)
    assert strangers == [], "a subscriber without keys read the stream"
    assert [name for name, _ in dispatcher.docs][:1] == ["start"]  # README's keyed RemoteDispatcher
