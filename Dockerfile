# syntax=docker/dockerfile:1
# The base image, pinned by digest: python:3.11-slim as published (multi-arch index). Refresh it
# with `docker buildx imagetools inspect python:3.11-slim` and rebuild, for security fixes.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# Build stage: wheels of the dependencies first (a layer that changes only with pyproject.toml),
# then warroom's own wheel (the layer a source change rebuilds).
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip wheel --no-cache-dir --wheel-dir /deps -r requirements.txt
COPY README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY scenarios ./scenarios
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /app .

# Runtime stage: slim, non-root, the database on a volume.
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 warroom && useradd --system --uid 10001 --gid warroom --home-dir /app warroom \
    && mkdir -p /app /data && chown 10001:10001 /data
COPY --from=build /deps /deps
RUN pip install --no-cache-dir --no-index /deps/*.whl && rm -rf /deps
COPY --from=build /app /wheel
RUN pip install --no-cache-dir --no-index --no-deps /wheel/*.whl && rm -rf /wheel
WORKDIR /app
# On SIGTERM the bot drains in three phases (post-mortem drafts, runbook steps, inbox and outbox),
# each for up to WARROOM_SHUTDOWN_DRAIN_SECONDS. 3 x 3 s ends before the SIGKILL of Docker's
# default 10 s stop grace; a longer drain needs a longer grace (`docker run --stop-timeout`,
# compose `stop_grace_period`): more than three times the drain.
ENV WARROOM_DATABASE_PATH=/data/warroom.db \
    WARROOM_SHUTDOWN_DRAIN_SECONDS=3 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
USER 10001:10001
EXPOSE 3000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('WARROOM_HTTP_PORT', '3000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status == 200 else 1)"]
CMD ["warroom", "run"]
