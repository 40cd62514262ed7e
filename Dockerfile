# One image for every role: the receiver, the worker and beat differ only by command (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# git reads the repositories of `repos:` (fetches into bare caches under /app/.relay/repos).
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, pinned by requirements.lock (pip-compile of pyproject.toml's ranges; README "Deployment"):
# this layer is rebuilt only when the lock changes, not on every code change.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# Then Relay itself, without touching the dependencies installed above.
COPY pyproject.toml README.md LICENSE ./
COPY worker ./worker
COPY tasks ./tasks
COPY webhooks ./webhooks
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin relay \
    && mkdir -p /app/.relay && chown relay /app/.relay
USER 10001

EXPOSE 8000
# The receiver's check; compose.yaml gives the worker and beat their own (relay health worker|beat).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=5 CMD ["relay", "health", "webhooks"]
CMD ["relay", "webhooks", "--host", "0.0.0.0", "--port", "8000"]
