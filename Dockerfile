# syntax=docker/dockerfile:1
# Build stage: a wheel of warroom and its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY scenarios ./scenarios
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: slim, non-root, the database on a volume.
FROM python:3.11-slim
RUN groupadd --system --gid 10001 warroom && useradd --system --uid 10001 --gid warroom --home-dir /app warroom \
    && mkdir -p /app /data && chown 10001:10001 /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
ENV WARROOM_DATABASE_PATH=/data/warroom.db \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3000/healthz').status == 200 else 1)"]
CMD ["warroom", "run"]
