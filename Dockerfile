# syntax=docker/dockerfile:1
# TraderAgent's live runner: `docker compose -f live/docker-compose.yml up -d` (docs/operations.md).
# Two stages: `build` installs the package and its `live` extra into /opt/venv, every version pinned by
# requirements.lock; `runtime` copies that venv alone, runs as an unprivileged user and checks /health.
# Nothing secret is built in: keys, tokens and passwords reach the container at run time, from live/.env.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.8
ENV UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && uv venv /opt/venv --python /usr/local/bin/python
WORKDIR /src
# Dependencies first: this layer is reused while only the code changes.
COPY pyproject.toml requirements.lock README.md ./
RUN uv pip install --python /opt/venv/bin/python --constraint requirements.lock -r pyproject.toml --extra live
COPY traderagent ./traderagent
RUN uv pip install --python /opt/venv/bin/python --constraint requirements.lock --no-deps .

FROM ${PYTHON_IMAGE} AS runtime
# pg_dump/pg_restore for `traderagent db backup|restore` (bookworm's client is PostgreSQL 15, like the compose
# stack's server). The exact Debian revision is not pinned: security updates replace it in the archive, and the
# base image's tag already fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin traderagent \
    && mkdir -p /app/live /app/data /app/reports /app/.cache \
    && chown -R traderagent:traderagent /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=traderagent:traderagent live/config.yaml /app/live/config.yaml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/app \
    NUMBA_CACHE_DIR=/app/.cache/numba
WORKDIR /app
USER 10001:10001
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python", "-m", "traderagent.obs.probe", "--config", "/app/live/config.yaml"]
ENTRYPOINT ["traderagent"]
CMD ["live", "run", "--config", "/app/live/config.yaml"]
