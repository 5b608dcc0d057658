# convnet-vis: the API and the page with the bundled models (and their precomputed views).
# Built and run here with podman: scripts/container-test (README, "Deployment").

# --- build: the dependencies in a virtual environment ---------------------------------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY convnet_vis ./convnet_vis
# Install the project to pull its dependencies, then drop the package itself: the runtime runs the
# source from /app, where it finds models/, static/ and templates/ beside it.
RUN pip install . && pip uninstall -y convnet-vis

# --- runtime ---------------------------------------------------------------------------------
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 \
    CONVNET_VIS_MODELS_DIR=/app/models CONVNET_VIS_CACHE_DIR=/app/.cache CONVNET_VIS_WORKERS=1
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY app ./app
COPY models ./models
COPY static ./static
COPY templates ./templates
RUN useradd --create-home --uid 10001 appuser
# The dataset views (top examples, the t-SNE map) computed once at build time, not on a first request.
ARG PRECOMPUTE=1
RUN mkdir -p /app/.cache && if [ "$PRECOMPUTE" = "1" ]; then \
      python -m app reference precompute mnist-convnet && python -m app reference precompute mnist-lenet; \
    fi && chown -R appuser /app/.cache
USER appuser
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/ready', timeout=2)"
# SIGTERM: long jobs get CONVNET_VIS_SHUTDOWN_GRACE_SECONDS (10), the process is gone 2 s later;
# docker stop waits 10 s by default, so give it more: docker stop -t 15.
# Exec form: the server is PID 1 and gets the SIGTERM itself (a shell in between would swallow it).
# CONVNET_VIS_WORKERS sets the worker processes: one per core you give the container.
CMD ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8000"]
