# The firstcrack agent: the runtime install only (ONNX backend, no torch), small enough for
# a Pi or a NUC, running as an unprivileged user in the `audio` group.
#   docker build -t firstcrack .                          # the runtime agent
#   docker build --build-arg EXTRAS=demo,plots -t firstcrack .   # plus extras (README, "Installing")
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends libportaudio2 libsndfile1 libasound2-plugins alsa-utils \
 && rm -rf /var/lib/apt/lists/*

# The agent's user: its own group, plus `audio` (GID 29 in Debian, as on Raspberry Pi OS,
# Debian and Ubuntu hosts) for /dev/snd. The state and cache directories exist in the image
# owned by it, so Docker's named volumes start out writable by it; for a bind mount,
# `chown -R 10001 DIR` on the host.
RUN useradd --system --user-group --uid 10001 --groups audio \
      --home-dir /var/lib/firstcrack --no-create-home --shell /usr/sbin/nologin firstcrack \
 && install -d -o firstcrack -g firstcrack -m 0750 /var/lib/firstcrack /var/cache/firstcrack

WORKDIR /app
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY models ./models
COPY config ./config
ARG EXTRAS=""
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}"

# Settings accepted over MQTT, the durable outbox and the model cache live on volumes.
# ORT_DISABLE_TELEMETRY: onnxruntime >= 1.29 would upload usage telemetry from Linux.
ENV FIRSTCRACK_STATE_DIR=/var/lib/firstcrack \
    HF_HOME=/var/cache/firstcrack/hf \
    ORT_DISABLE_TELEMETRY=1 \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/firstcrack", "/var/cache/firstcrack"]

USER firstcrack
ENTRYPOINT ["firstcrack"]
CMD ["run", "--config", "/app/config/agent.yaml", "--source", "mic"]
