# Production image: the same uv.lock as development, non-root, no dev tools.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    DO_NOT_TRACK=true MLFLOW_DISABLE_TELEMETRY=true PREFECT_SERVER_ANALYTICS_ENABLED=false
RUN pip install --no-cache-dir uv==0.13.9 \
 && useradd --create-home --uid 10001 qt
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev && chown -R qt:qt /app
USER qt
ENV PATH="/app/.venv/bin:$PATH" QT_ROOT=/app
ENTRYPOINT ["qtml"]
CMD ["--help"]
