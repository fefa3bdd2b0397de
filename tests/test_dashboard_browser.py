"""The dashboard in a real browser (Debian's chromium + chromium-driver, via selenium).

One simulated roast at 5x through `firstcrack run` with a real mosquitto:
- after the first-crack event, `#phase` shows first crack and the chart has points;
- "False alarm" on the page makes the agent publish `false_alarm` on the broker;
- through a stand-in for Home Assistant's ingress proxy (a path prefix and
  `X-Ingress-Path`), the page loads and streams, and its "Disarm" reaches the agent;
- on a non-loopback bind, a write without the token is refused, and the page asks for it.

Set DASHBOARD_SCREENSHOT=docs/img/dashboard.png to refresh the README's picture.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from firstcrack.agent.config import AgentConfig
from firstcrack.agent.dashboard.hub import Hub
from firstcrack.agent.live.app import Agent, AgentParts, serve_dashboard
from tests.agent_process import AgentProcess
from tests.ingress_proxy import IngressProxy
from tests.mqtt_fixtures import Mosquitto, mosquitto, subscriber_factory  # noqa: F401

SEED, DURATION, SPEED = 30011, 180.0, 5.0  # first crack at 96 s of roast: ~20 s of wall time
WAIT_S = 90.0
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    assert Path(CHROMIUM).exists(), "scripts/bootstrap.sh installs Debian's chromium"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _text(driver: webdriver.Chrome, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text).strip()


def _wait(driver: webdriver.Chrome, what: Any, timeout: float = WAIT_S) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(what)


def _events(sub: Any, kind: str) -> list[dict[str, Any]]:
    out = []
    for m in sub.on("firstcrack/roaster1/event"):
        body = m.json()
        if isinstance(body, dict) and body.get("event_type") == kind:
            out.append(body)
    return out


def test_a_roast_on_the_dashboard_and_its_buttons(
    browser: webdriver.Chrome, mosquitto: Mosquitto, subscriber_factory: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    sub = subscriber_factory(mosquitto.port, ["firstcrack/roaster1/#"])
    port = _free_port()
    agent = AgentProcess(mosquitto.port, tmp_path, "--source", f"sim:{SEED}:{DURATION:g}",
                         "--speed", f"{SPEED:g}", "--quiet",
                         env={"FIRSTCRACK_DASHBOARD__PORT": str(port)})
    proxy = IngressProxy(port)
    try:
        url = f"http://127.0.0.1:{port}/"
        try:
            _wait(browser, lambda d: _reachable(d, url), timeout=30)
        except Exception:
            agent.kill()
            raise AssertionError(f"the dashboard never answered: {agent.stderr()}") from None
        _wait(browser, lambda d: _text(d, "phase") == "first crack")
        assert _events(sub, "first_crack"), "the page showed first crack before the broker did"
        curve = browser.find_element(By.ID, "curve")
        assert int(curve.get_attribute("data-points") or 0) > 5
        assert browser.find_element(By.ID, "panel").get_attribute("data-roaster") == "roaster1"
        assert _text(browser, "development") not in ("", "—")
        shot = Path(os.environ.get("DASHBOARD_SCREENSHOT") or tmp_path / "dashboard.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

        browser.find_element(By.CSS_SELECTOR, 'button[data-action="false_alarm"]').click()
        sub.wait_for(lambda m: m.topic.endswith("/event")
                     and (m.json() or {}).get("event_type") == "false_alarm", timeout=20)
        assert _events(sub, "false_alarm")[0]["origin"] == "dashboard"

        browser.get(proxy.url)  # the same dashboard under Home Assistant's ingress prefix
        _wait(browser, lambda d: _text(d, "phase") in ("armed", "first crack"), timeout=20)
        assert int(browser.find_element(By.ID, "curve").get_attribute("data-points") or 0) > 5
        _wait(browser, lambda d: _text(d, "arm") == "Disarm", timeout=10)
        browser.find_element(By.ID, "arm").click()  # a write through the proxy
        sub.wait_for(lambda m: m.topic == "firstcrack/roaster1/armed/state"
                     and m.text == "OFF", timeout=20)
    finally:
        proxy.close()
        agent.kill()


def _reachable(driver: webdriver.Chrome, url: str) -> bool:
    try:
        driver.get(url)
    except Exception:  # the agent is still starting
        return False
    return bool(driver.find_elements(By.ID, "phase"))


class Quiet:
    name = "quiet"

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.zeros(len(windows), np.float32)


class NoSource:
    name = "none"


def test_off_loopback_the_page_asks_for_the_token(browser: webdriver.Chrome,
                                                   tmp_path: Path) -> None:
    token = "a-long-enough-token-1234"
    config = AgentConfig.model_validate({
        "state_dir": str(tmp_path), "mqtt": {"enabled": False},
        "dashboard": {"host": "0.0.0.0", "port": 0, "token": token}})
    hub = Hub()
    agent = Agent(AgentParts(config, NoSource(), Quiet(), []), mqtt=False, dashboard=hub)
    server = serve_dashboard(config.dashboard, hub, [agent])
    assert server is not None
    try:
        agent.start_sinks()
        browser.get(server.url)
        _wait(browser, lambda d: _text(d, "phase") == "armed", timeout=20)
        browser.find_element(By.CSS_SELECTOR, 'button[data-action="drop"]').click()
        _wait(browser, lambda d: _text(d, "message") == "a token is needed", timeout=10)
        assert agent.runtime.commands.drain() == []  # refused: nothing reached the roast
        browser.find_element(By.ID, "token").send_keys(token)
        browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
        browser.find_element(By.CSS_SELECTOR, 'button[data-action="drop"]').click()
        _wait(browser, lambda d: _text(d, "message") == "drop: sent", timeout=10)
        assert [c.action for c in agent.runtime.commands.drain()] == ["drop"]
    finally:
        server.close()
        shutil.rmtree(tmp_path, ignore_errors=True)
