"""The metrics endpoints over real HTTP on 127.0.0.1 (ephemeral ports): /metrics in both exposition formats and
gzipped, /health and /ready flipping with the runner's reports, the container's probe, and the config switch."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from traderagent.config.loader import parse_config
from traderagent.obs.metrics import Metrics
from traderagent.obs.probe import endpoint
from traderagent.obs.server import MetricsServer, serve


class Clock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:  # an HTTPError holds the response open
            return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def clock():
    return Clock(100.0)


@pytest.fixture
def metrics(clock):
    m = Metrics(max_silence_seconds=30, timeframe_seconds=900, clock=clock)
    m.instance("trend-btc", equity=10_000.0, state="active", stage=0.25)
    return m


@pytest.fixture
def server(metrics):
    with MetricsServer(metrics, "127.0.0.1", 0) as s:
        yield s


def test_metrics_in_the_text_format(server, metrics):
    metrics.fill("trend-btc", "sell")
    code, headers, body = get(server.url + "/metrics")
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(body.decode()) for s in f.samples}
    assert samples[("traderagent_fills_total", (("instance", "trend-btc"), ("side", "sell")))] == 1
    assert samples[("traderagent_instance_stage_ratio", (("instance", "trend-btc"),))] == 0.25
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)


def test_metrics_openmetrics_and_gzip(server):
    code, headers, body = get(server.url + "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0",
                                                        "Accept-Encoding": "gzip"})
    assert code == 200 and headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    text = gzip.decompress(body).decode()
    assert text.rstrip().endswith("# EOF") and "traderagent_instance_equity_quote" in text


def test_health_turns_503_when_the_loop_goes_silent(server, metrics, clock):
    code, headers, body = get(server.url + "/health")
    assert code == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["status"] == "ok"
    clock.t += 31
    code, _, body = get(server.url + "/health")
    assert code == 503
    assert json.loads(body) == {"status": "stalled", "seconds_since_last_iteration": 31.0,
                                "max_silence_seconds": 30.0, "iterations": 0}
    metrics.loop(0.003)
    code, _, body = get(server.url + "/health")
    assert code == 200 and json.loads(body)["iterations"] == 1


def test_ready_names_what_is_not_ready(server, metrics):
    code, _, body = get(server.url + "/ready")
    assert code == 503 and json.loads(body)["not_ready"] == ["markets_loaded", "data_fresh", "database_up"]
    metrics.health(markets_loaded=True, data_fresh=True)
    code, _, body = get(server.url + "/ready")
    assert code == 503 and json.loads(body)["not_ready"] == ["database_up"]
    metrics.health(database_up=True)
    code, _, body = get(server.url + "/ready")
    assert code == 200 and json.loads(body)["status"] == "ready"


def test_other_paths_and_methods(server):
    code, _, body = get(server.url + "/")
    assert code == 404 and json.loads(body)["paths"] == ["/metrics", "/health", "/ready"]
    req = urllib.request.Request(server.url + "/health", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    with err.value:
        assert err.value.code == 405


def test_a_port_in_use_is_one_clear_error(server, metrics):
    with pytest.raises(OSError, match=rf"metrics server cannot listen on 127.0.0.1:{server.port}"):
        MetricsServer(metrics, "127.0.0.1", server.port).start()


def test_stop_releases_the_port(metrics):
    s = MetricsServer(metrics, "127.0.0.1", 0).start()
    port = s.port
    s.stop()
    s.stop()  # idempotent
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))  # free again
    with pytest.raises(RuntimeError, match="not started"):
        _ = s.port


def test_serve_follows_the_config(metrics):
    assert serve(metrics, parse_config({"live": {"metrics_port": 0}}).live) is None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    s = serve(metrics, parse_config({"live": {"metrics_port": free}}).live)
    try:
        assert s is not None and s.url == f"http://127.0.0.1:{free}"
        assert get(s.url + "/health")[0] == 200
    finally:
        s.stop()


def test_two_runners_in_one_process_serve_their_own_metrics():
    a, b = Metrics(process=False), Metrics(process=False)
    a.portfolio(1.0)
    b.portfolio(2.0)
    with MetricsServer(a) as sa, MetricsServer(b) as sb:
        assert b"traderagent_portfolio_value_quote 1.0" in get(sa.url + "/metrics")[2]
        assert b"traderagent_portfolio_value_quote 2.0" in get(sb.url + "/metrics")[2]


def probe(config_text: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text)
    return subprocess.run([sys.executable, "-m", "traderagent.obs.probe", "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=60)


def test_the_container_probe(server, metrics, clock, tmp_path):
    """What the image's HEALTHCHECK runs: 0 while /health is 200, 1 when it is 503 or unreachable, 2 on a bad
    config; the config's 0.0.0.0 is asked on the loopback."""
    port = server.port
    cfg = f"live:\n  metrics_host: 0.0.0.0\n  metrics_port: {port}\n"
    ok = probe(cfg, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"200 http://127.0.0.1:{port}/health ")
    ready = probe(cfg, tmp_path, "--path", "/ready")
    assert ready.returncode == 1 and '"not_ready": ["markets_loaded", "data_fresh", "database_up"]' in ready.stderr
    clock.t += 60
    stalled = probe(cfg, tmp_path)
    assert stalled.returncode == 1 and stalled.stderr.startswith("503 ") and '"status": "stalled"' in stalled.stderr
    server.stop()
    gone = probe(cfg, tmp_path)
    assert gone.returncode == 1 and gone.stderr.startswith(f"cannot reach http://127.0.0.1:{port}/health: ")
    off = probe("live: {metrics_port: 0}\n", tmp_path)
    assert off.returncode == 1 and "metrics are off" in off.stderr
    bad = probe("live: {metrics_prot: 1}\n", tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"error: {tmp_path / 'config.yaml'}: live.metrics_prot: unknown key; did you mean " \
                                 "'metrics_port'?"


@pytest.mark.parametrize(("host", "url"), [("0.0.0.0", "http://127.0.0.1:9108/health"),
                                           ("::", "http://[::1]:9108/health"),
                                           ("10.0.0.5", "http://10.0.0.5:9108/health")])
def test_probe_endpoint(host, url):
    assert endpoint(host, 9108, "/health") == url
