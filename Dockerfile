# One image for every part: the receiver, the worker and beat differ only by command (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY worker ./worker
COPY tasks ./tasks
COPY webhooks ./webhooks
RUN pip install . && useradd --system --uid 10001 relay
USER relay

EXPOSE 8000
CMD ["relay", "webhooks", "--host", "0.0.0.0", "--port", "8000"]
