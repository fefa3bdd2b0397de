#!/usr/bin/with-contenv bashio
# shellcheck shell=bash
# Start the agent inside the add-on: the broker from the Supervisor's MQTT service, the
# user's options, and the dashboard behind Home Assistant's ingress.
#
# Every setting reaches the agent as a FIRSTCRACK_* environment variable (README,
# "Configuration"); nothing is written to a file. tests/test_ha_addon.py runs this script
# with a stand-in bashio and checks the mapping.
set -euo pipefail

if ! bashio::services.available "mqtt"; then
  bashio::exit.nok "No MQTT broker: install and start the Mosquitto broker add-on."
fi
export FIRSTCRACK_MQTT__HOST="$(bashio::services mqtt "host")"
export FIRSTCRACK_MQTT__PORT="$(bashio::services mqtt "port")"
export FIRSTCRACK_MQTT__USERNAME="$(bashio::services mqtt "username")"
export FIRSTCRACK_MQTT__PASSWORD="$(bashio::services mqtt "password")"

export FIRSTCRACK_MODEL="$(bashio::config 'model')"
export FIRSTCRACK_AGENT_ID="$(bashio::config 'roaster_id')"
export FIRSTCRACK_DETECTOR__GATE="$(bashio::config 'gate')"
export FIRSTCRACK_RECORDING__ENABLED="$(bashio::config 'recording')"
if bashio::config.has_value 'threshold'; then
  export FIRSTCRACK_DETECTOR__THRESHOLD="$(bashio::config 'threshold')"
fi

# State (settings, the outbox, recordings) survives add-on updates in /data.
export FIRSTCRACK_STATE_DIR=/data
export HF_HOME=/data/hf-cache
# The dashboard is reached through ingress only: Home Assistant authenticates the user,
# and its proxy (172.30.32.2) may press the buttons. Anyone else who reaches the port
# would need a token that nobody is told, so they can only look.
export FIRSTCRACK_DASHBOARD__HOST=0.0.0.0
export FIRSTCRACK_DASHBOARD__PORT=8787
export FIRSTCRACK_DASHBOARD__INGRESS_FROM=172.30.32.2
export FIRSTCRACK_DASHBOARD__TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

bashio::log.info "firstcrack: roaster ${FIRSTCRACK_AGENT_ID}, model ${FIRSTCRACK_MODEL}"
exec firstcrack run --source mic
