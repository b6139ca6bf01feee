# syntax=docker/dockerfile:1.7
# The MedAI backend image: the API (`medai serve`), and with another command the reference
# model server. Production dependencies only: no embedded PostgreSQL, no test tools.
# Configuration comes from the environment; see docs/operations.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ghcr.io/astral-sh/uv:0.13.8 AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first, in their own layer: rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project
COPY openapi/ openapi/
COPY migrations/ migrations/
COPY service/ service/
COPY adapters/ adapters/
COPY domain/ domain/
COPY handlers/ handlers/
COPY persistence/ persistence/
COPY mlclient/ mlclient/
COPY modelserver/ modelserver/
# The project stays where it is (an editable install): the service finds its spec and its
# migrations beside its code.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev \
    && /app/.venv/bin/python -m compileall -q service adapters domain handlers persistence mlclient modelserver migrations

FROM ${PYTHON_IMAGE} AS runtime
WORKDIR /app
# Owned by root and read-only to the service's user: the code cannot be changed at run time.
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MEDAI_ENV=production \
    MEDAI_HOST=0.0.0.0 \
    MEDAI_PORT=8000
# A numeric user, so that runAsNonRoot-style checks can verify it without a passwd entry.
USER 10001:10001
EXPOSE 8000
# No curl in slim images; Python is there anyway. Liveness only: readiness (database) is for
# the load balancer, not for restarting the container.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('MEDAI_PORT', '8000'), timeout=2)"]
CMD ["medai", "serve"]
