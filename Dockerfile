# syntax=docker/dockerfile:1.7
# One image, three jobs (ECS task definitions and compose.yaml pick the command):
#   collector  vieweratlas collect live  (long-running; SIGTERM flushes the open window)
#   analysis   vieweratlas analyze       (daily)
#   vod        vieweratlas collect vod   (every 6 hours)
# Build: docker build -t vieweratlas .      Lint: hadolint Dockerfile (tests/deploy runs it)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# uv, pinned; only its two binaries are copied, never run in the final image.
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# ---------------------------------------------------------------- build: a locked venv
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/vieweratlas
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when the lock changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --no-install-project
COPY pyproject.toml uv.lock README.md LICENSE hatch_build.py ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable
# Smaller image: the libraries' own test suites, C headers and Cython sources are not
# needed at run time (about 40 MB).
RUN find /opt/vieweratlas/lib -depth -type d -name tests -prune -exec rm -rf {} + \
 && find /opt/vieweratlas/lib -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.h' -o -name '*.a' \) -delete

# ---------------------------------------------------------------- runtime: venv + non-root user
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="vieweratlas" \
      org.opencontainers.image.description="Maps which Twitch channels share audiences" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 atlas \
 && useradd --system --uid 10001 --gid atlas --home-dir /home/atlas --create-home \
      --shell /usr/sbin/nologin atlas \
 && mkdir -p /data/lake \
 && chown -R atlas:atlas /data
COPY --from=build /opt/vieweratlas /opt/vieweratlas
ENV PATH=/opt/vieweratlas/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIEWERATLAS_LAKE=/data/lake \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /home/atlas
# /tmp is the only writable path when the root filesystem is read-only (ECS task
# definitions, compose): declared a volume so the runtime mounts it with the image's
# world-writable (1777) permissions for the non-root user.
VOLUME ["/tmp"]
USER 10001:10001
# Healthy = settings resolve and the lake root answers (one cheap HEAD/LIST on S3).
HEALTHCHECK --interval=5m --timeout=30s --start-period=1m --retries=3 \
    CMD ["vieweratlas", "lake", "check", "--reachable"]
ENTRYPOINT ["vieweratlas"]
CMD ["collect", "live"]
