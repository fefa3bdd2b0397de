"""A private PulseAudio daemon with a null sink, so the microphone path can be tested for real.

Recipe (works as root in a container, no D-Bus, no sound card):

    export HOME=$T/home XDG_RUNTIME_DIR=$T/run PULSE_RUNTIME_PATH=$T/run/pulse
    pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit --disable-shm \
        --log-target=stderr --load=module-native-protocol-unix \
        --load="module-null-sink sink_name=fcnull"
    pactl set-default-source fcnull.monitor
    paplay --device=fcnull tone.wav        # what sounddevice records from device "pulse"

PortAudio sees the daemon through ALSA's `pulse` plugin (libasound2-plugins);
it enumerates devices once, so the fixture re-initialises it after the daemon
is up. Tests that use `pulse_server` are skipped (with the reason) only when
the daemon cannot start.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SINK = "fcnull"
START_TIMEOUT_S = 15.0


class PulseServer:
    """One PulseAudio daemon in its own runtime directory; start/kill/restart at will."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = dict(os.environ)
        self.env.update(
            HOME=str(root / "home"),
            XDG_RUNTIME_DIR=str(root / "run"),
            PULSE_RUNTIME_PATH=str(root / "run" / "pulse"),
            PULSE_SERVER=f"unix:{root / 'run' / 'pulse' / 'native'}",
            PULSE_COOKIE=str(root / "home" / ".config" / "pulse" / "cookie"),
            XDG_CONFIG_HOME=str(root / "config"),  # alsa-lib: $XDG_CONFIG_HOME/alsa/asoundrc
            PULSE_CONFIG=str(root / "daemon.conf"),  # the daemon's only; not exported in-process
        )
        for key in ("HOME", "XDG_RUNTIME_DIR"):
            Path(self.env[key]).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_path = root / "pulseaudio.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def pactl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `pactl` against this daemon; the completed process (check returncode yourself)."""
        return subprocess.run(
            ["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10
        )

    def load_null_sink(self, sink: str) -> str:
        """Add a null sink (its monitor is a recordable source); the module id to unload it by."""
        result = self.pactl("load-module", "module-null-sink", f"sink_name={sink}")
        if result.returncode != 0:
            raise RuntimeError(f"pactl load-module module-null-sink failed: {result.stderr}")
        return result.stdout.strip()

    def unload_module(self, module_id: str) -> None:
        """Remove a module: for a null sink, its monitor vanishes like an unplugged mic.

        Streams recording it die (the daemon runs with `rescue-streams = no`,
        see `start`), and reopening it fails until the sink is loaded again.
        """
        result = self.pactl("unload-module", module_id)
        if result.returncode != 0:
            raise RuntimeError(f"pactl unload-module {module_id} failed: {result.stderr}")

    def alsa_input(self, name: str, sink: str) -> None:
        """Define ALSA PCM `name` recording `sink`'s monitor, for PortAudio to list as a device.

        The `pulse` ALSA device always records the *default* source; a named
        PCM of type pulse pins one source, which is how two "microphones" on
        one daemon look like two devices to PortAudio. The definition goes in
        `$XDG_CONFIG_HOME/alsa/asoundrc` (XDG_CONFIG_HOME points into this
        server's directory while the fixture runs); PortAudio lists it after
        its next re-initialisation.
        """
        config = Path(self.env["XDG_CONFIG_HOME"]) / "alsa" / "asoundrc"
        config.parent.mkdir(parents=True, exist_ok=True)
        with config.open("a") as f:
            f.write(f'pcm.{name} {{ type pulse; device "{sink}.monitor" }}\n')

    def start(self) -> None:
        """Start the daemon and wait (bounded) until it answers; RuntimeError if it doesn't.

        The daemon reads `$PULSE_CONFIG`, a daemon.conf written here with
        `rescue-streams = no`: by default PulseAudio moves the streams of
        a vanished source to the default source (and back when it returns),
        so a recorder of an unloaded sink's monitor would silently go on
        hearing another device instead of losing its stream as it does when a
        USB mic is pulled without a sound server in between.
        """
        Path(self.env["PULSE_CONFIG"]).write_text("rescue-streams = no\n")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1",
                "--disallow-exit", "--disable-shm", "--log-target=stderr",
                "--load=module-native-protocol-unix",
                f"--load=module-null-sink sink_name={SINK}",
            ],
            env=self.env, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.pactl("info").returncode == 0:
                result = self.pactl("set-default-source", f"{SINK}.monitor")
                if result.returncode != 0:
                    raise RuntimeError(f"pactl set-default-source failed: {result.stderr}")
                return
            time.sleep(0.1)
        self.kill()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PulseAudio did not start within {START_TIMEOUT_S} s:\n{tail}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the daemon (as a vanished device looks to clients) and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def play(self, wav: Path) -> subprocess.Popen[bytes]:
        """Play a file into the null sink; its monitor is what the "pulse" input records."""
        return subprocess.Popen(
            ["paplay", f"--device={SINK}", str(wav)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip


def reinit_portaudio() -> bool:
    """Make PortAudio re-enumerate ALSA devices (it lists them once, at initialisation).

    Goes through the agent's registry, the one place that may re-initialise
    PortAudio: False (and nothing done) while some test still has a stream open.
    """
    from firstcrack.agent.sources.devices import STREAMS, load_sounddevice

    return STREAMS.reinit(load_sounddevice())


def running_pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """Start a daemon that this process's PortAudio records from as "pulse"; stop it after.

    A generator for fixtures to delegate to (`yield from`); skips the test only
    when PulseAudio cannot start.
    """
    missing = [b for b in ("pulseaudio", "pactl", "paplay") if shutil.which(b) is None]
    if missing:
        pytest.skip(f"PulseAudio cannot start: {', '.join(missing)} not installed")
    try:
        import sounddevice  # noqa: F401
    except OSError as exc:
        pytest.skip(f"PortAudio (libportaudio2) not available: {exc}")
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"PulseAudio cannot start: {exc}")
    keys = (
        "XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "PULSE_SERVER", "PULSE_COOKIE", "XDG_CONFIG_HOME"
    )  # fmt: skip
    saved = {key: os.environ.get(key) for key in keys}
    for key in saved:
        os.environ[key] = server.env[key]  # libpulse and alsa-lib read these in-process
    reinit_portaudio()
    try:
        yield server
    finally:
        server.kill()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reinit_portaudio()


@pytest.fixture
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """A running PulseAudio daemon with the null sink (for use from a conftest)."""
    yield from running_pulse_server(tmp_path_factory)
