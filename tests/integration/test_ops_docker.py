"""The Docker image and the compose stack, without a Docker engine: hadolint reports nothing on the Dockerfile, the
compose file validates against the compose spec, the build context holds no secret or data (.dockerignore read the
way Docker reads it), and the image's entrypoint command runs from the project venv (a paper replay, scraped)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from ops_tools import LIVE, ROOT, Process, free_port, log_tail, run, venv_tool, wait_for

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = LIVE / "docker-compose.yml"
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|DATABASE_URL", re.I)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out, buf = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") and not buf:
            continue
        buf += line.rstrip("\\").strip() + " " if line.rstrip().endswith("\\") else line.strip()
        if not line.rstrip().endswith("\\"):
            if buf.strip():
                word, _, rest = buf.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            buf = ""
    return out


# -------------------------------------------------------------------------------------------- Dockerfile
def test_hadolint_reports_nothing():
    result = run([venv_tool("hadolint"), "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""


def test_hadolint_does_report(tmp_path):
    """The check is live: a Dockerfile with the usual mistakes gets findings."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get update && apt-get install curl\nRUN pip install requests\n")
    result = run([venv_tool("hadolint"), "--no-color", str(bad)])
    assert result.returncode == 1
    assert {"DL3006", "DL3008", "DL3013"} <= set(re.findall(r"DL\d{4}", result.stdout))


def test_the_image_is_multi_stage_non_root_from_the_lock_with_a_healthcheck():
    steps = instructions(DOCKERFILE.read_text())
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2 and froms[-1].endswith("AS runtime")
    final = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM"):]
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert runs.count("--constraint requirements.lock") == 2  # dependencies, then the package, both from the lock
    assert "--from=build /opt/venv /opt/venv" in " ".join(args for w, args in final if w == "COPY")
    health = [args for word, args in final if word == "HEALTHCHECK"]
    assert len(health) == 1 and '"traderagent.obs.probe"' in health[0] and "/app/live/config.yaml" in health[0]
    assert entrypoint_command() == ["traderagent", "live", "run", "--config", "/app/live/config.yaml"]


def test_no_secret_in_any_layer():
    steps = instructions(DOCKERFILE.read_text())
    for word, args in steps:
        if word in ("ENV", "ARG", "LABEL"):
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", " " + args) or [args.split("=")[0]]
            assert not any(SECRETISH.search(n) for n in names), f"{word} {args}"
        if word in ("COPY", "ADD"):
            assert ".env" not in args and "secret" not in args.lower(), f"{word} {args}"
    assert not any(word == "ADD" for word, _ in steps)  # COPY only: no remote URLs, no auto-extraction


def entrypoint_command() -> list[str]:
    steps = dict((w, a) for w, a in instructions(DOCKERFILE.read_text()) if w in ("ENTRYPOINT", "CMD"))
    return json.loads(steps["ENTRYPOINT"]) + json.loads(steps["CMD"])


# --------------------------------------------------------------------------------- the build context
def dockerignore_patterns() -> list[tuple[bool, str]]:
    out = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        out.append((negate, os.path.normpath(line.lstrip("!")).lstrip("/")))
    return out


def _match(pattern: str, path: str) -> bool:
    """Docker's rule: the pattern matches the path or one of its parent directories; `**` spans directories."""
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*") \
        .replace(r"\?", "[^/]")
    parts = path.split("/")
    return any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1))


def in_context(path: str, patterns: list[tuple[bool, str]]) -> bool:
    excluded = False
    for negate, pattern in patterns:  # the last matching line wins
        if _match(pattern, path):
            excluded = not negate
    return not excluded


def test_the_dockerignore_reader_follows_dockers_rules():
    pats = [(False, "*"), (True, "src"), (False, "**/*.pyc")]
    assert not in_context("README.md", pats) and in_context("src/a.py", pats) and in_context("src/b/c.py", pats)
    assert not in_context("src/b/c.pyc", pats) and not in_context("docs/src/a.py", pats)


def test_the_build_context_holds_the_package_and_nothing_secret():
    pats = dockerignore_patterns()
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    context = {p for p in tracked if in_context(p, pats)}
    needed = {"Dockerfile", "pyproject.toml", "requirements.lock", "README.md", "traderagent/obs/probe.py",
              "traderagent/config/default.yaml", "traderagent/cli/__init__.py"}
    assert needed <= context, needed - context
    assert all(p in needed or p.startswith("traderagent/") or p == "live/config.yaml" for p in context), \
        sorted(p for p in context if not p.startswith("traderagent/"))
    for secret in ("live/.env", ".env", "traderagent/.env", "data/BTC_USDT-15m.csv.gz", ".venv/bin/python",
                   "traderagent/__pycache__/cli.cpython-311.pyc", "traderagent/indicators/nb.ema-1.py311.nbi",
                   "traderagent.db", "traderagent/state.sqlite", ".git/config", "tests/conftest.py"):
        assert not in_context(secret, pats), secret


def test_the_env_file_is_never_committed():
    for path in ("live/.env", ".env"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0, path
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "live/.env" not in tracked.splitlines() and "live/.env.example" in tracked.splitlines()


# ------------------------------------------------------------------------------------------------ compose
def test_compose_file_validates_against_the_compose_spec():
    result = run([venv_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])
    assert result.returncode == 0 and "ok -- validation done" in result.stdout


def test_the_compose_check_does_catch_mistakes(tmp_path):
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["bot"]["depends_on"]["postgres"]["condition"] = "service_ready"  # not a compose condition
    broken["services"]["postgres"]["healthcheck"]["retries"] = "six"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = run([venv_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)])
    assert result.returncode == 1 and "service_ready" in result.stdout + result.stderr


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_stack_has_its_services_and_no_redis():
    services = compose()["services"]
    assert {"bot", "postgres", "prometheus", "alertmanager", "grafana"} <= set(services)
    assert not any("redis" in name or "redis" in str(s.get("image", "")) for name, s in services.items())
    pg = services["postgres"]
    assert any(v.startswith("pgdata:") for v in pg["volumes"]) and "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert services["bot"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["bot"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["db", "upgrade"]


def test_images_are_pinned_and_ports_stay_on_the_host():
    for name, s in compose()["services"].items():
        image = s["image"]
        if name in ("bot", "migrate"):
            assert image == "${TRADERAGENT_IMAGE:-traderagent:latest}" and s["build"]["context"] == ".."
            continue
        assert ":" in image and not image.endswith(":latest"), image
        for port in s.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    assert "ports" not in compose()["services"]["bot"]  # /metrics only on the stack's network


def test_the_prometheus_and_alertmanager_images_match_the_tools_that_check_their_files():
    """The rules and Alertmanager's config are checked with Debian bookworm's promtool 2.42 and amtool 0.25."""
    services = compose()["services"]
    assert services["prometheus"]["image"] == "prom/prometheus:v2.42.0"
    assert services["alertmanager"]["image"] == "prom/alertmanager:v0.25.0"


def test_secrets_come_from_the_env_file_only():
    text = COMPOSE.read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = (LIVE / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    assert used <= listed, f"not in live/.env.example: {sorted(used - listed)}"
    assert all(re.search(rf"^{v}=$", example, re.M) for v in listed if SECRETISH.search(v)), "example values set"
    for name, s in compose()["services"].items():
        env = s.get("environment", {})
        for key, value in env.items():
            if SECRETISH.search(key):
                assert "${" in str(value), f"{name}: {key} is written in the compose file"
        assert "env_file" not in s  # each service receives only its own variables
    am = compose()["services"]["alertmanager"]
    assert am["entrypoint"][:2] == ["/bin/sh", "/etc/alertmanager/render.sh"]
    assert "./alertmanager:/etc/alertmanager:ro" in am["volumes"]


def test_the_mounted_folders_exist():
    for s in compose()["services"].values():
        for v in s.get("volumes", []):
            source = v.split(":")[0]
            if source.startswith("./") and source != "./config.yaml":  # config.yaml: the lead's example config
                assert (LIVE / source).exists(), source


# ------------------------------------------------------------------------------- the image's entrypoint
def scrape(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_the_images_entrypoint_runs_a_paper_replay_and_is_scraped(tmp_path, btc_15m):
    """The container's command, run from the project venv: `traderagent live run --config FILE` plus a paper
    replay of a few bundled bars; /ready turns 200 and /metrics shows the loop and the bars."""
    example = LIVE / "config.yaml"
    cfg = yaml.safe_load(example.read_text()) if example.exists() else {}
    port = free_port()
    cfg.setdefault("live", {}).update({"mode": "paper", "metrics_host": "127.0.0.1", "metrics_port": port})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    bars = tmp_path / "BTC_USDT-15m.csv"
    btc_15m.iloc[-3000:].to_csv(bars, index_label="timestamp")  # warm-up, then a few bars replayed
    cmd = [str(Path(sys.executable).parent / a) if i == 0 else a for i, a in enumerate(entrypoint_command())]
    cmd = [str(config) if a == "/app/live/config.yaml" else a for a in cmd] + ["--replay", str(bars), "--speed", "900"]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}"}
    proc = Process(cmd, tmp_path / "runner.log", env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: not proc.alive() or scrape(base + "/ready")[0] == 200, "/ready to answer 200",
                 timeout=240, log=lambda: log_tail(proc.log))
        assert proc.alive(), log_tail(proc.log)
        assert scrape(base + "/health")[0] == 200

        def stepped() -> str | None:
            code, text = scrape(base + "/metrics")
            m = re.search(r"^traderagent_loop_iteration_seconds_count (\S+)", text, re.M)
            return text if code == 200 and m and float(m.group(1)) > 0 and \
                re.search(r"^traderagent_last_bar_timestamp_seconds [1-9]", text, re.M) else None

        text = wait_for(stepped, "the replay's first bars in /metrics", timeout=120, log=lambda: log_tail(proc.log))
        print(text)
        assert re.search(r'^traderagent_instance_state\{instance="[^"]+",state="active"\} 1\.0', text, re.M)
    finally:
        if proc.alive():
            proc.proc.send_signal(signal.SIGTERM)
        proc.stop()
