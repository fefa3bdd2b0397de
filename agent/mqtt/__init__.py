"""MQTT layer: topics, durable outbox, Home Assistant discovery and the paho sink."""

from __future__ import annotations

from firstcrack.agent.mqtt.publisher import CommandHandler, MqttSink
from firstcrack.agent.mqtt.topics import Topics

__all__ = ["CommandHandler", "MqttSink", "Topics"]
