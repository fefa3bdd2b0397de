# The firstcrack agent. CPU-only torch keeps the image small enough for a Pi or a NUC.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends libportaudio2 libsndfile1 libasound2-plugins alsa-utils \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY models ./models
COPY config ./config
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir .

# Settings accepted over MQTT, the durable outbox and the model cache live on volumes.
ENV FIRSTCRACK_STATE_DIR=/var/lib/firstcrack \
    HF_HOME=/var/cache/firstcrack/hf
VOLUME ["/var/lib/firstcrack", "/var/cache/firstcrack"]

# Runs as root so the container can open /dev/snd without matching host audio group ids.
ENTRYPOINT ["firstcrack"]
CMD ["run", "--config", "/app/config/agent.yaml", "--source", "mic"]
