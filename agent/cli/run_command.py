"""`firstcrack run`: the agent on a microphone, a file or a simulated roast."""

from __future__ import annotations

import argparse

from firstcrack.agent.cli import options
from firstcrack.agent.cli.logs import set_level


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_config_option(parser, "agent.yaml (default: config/agent.yaml)")
    options.add_model_options(parser, "default: the config's `model`, the published checkpoint")
    parser.add_argument(
        "--source",
        help="mic | mic:DEVICE | file:PATH | sim | sim:SEED (default: mic; with `roasters:` "
        "in the config, each roaster names its own)",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="replay speed for file/sim (e.g. 20; 0 = max)"
    )
    parser.add_argument("--no-mqtt", action="store_true", help="do not connect to a broker")
    parser.add_argument("--quiet", action="store_true", help="no JSON lines on stdout")


def main(args: argparse.Namespace) -> int:
    from firstcrack.agent.core.sinks import JsonLinesSink
    from firstcrack.agent.dashboard.hub import Hub
    from firstcrack.agent.live.app import build_agents, run_agents, serve_dashboard
    from firstcrack.agent.sources import open_source, open_sources

    config = options.config_from_args(args)
    set_level(config.log_level, debug=args.debug)
    options.log_effective(config)
    if config.roasters:
        if args.source is not None:
            raise options.UsageError("--source cannot be used with `roasters:` in the config")
        wanted = [(r.source, r.channel) for r in config.roasters]
        sources = open_sources(wanted, config.audio, speed=args.speed)
    else:
        sources = [open_source(args.source or "mic", config.audio, speed=args.speed)]
    scorer = options.load_scorer(config)
    many = len(sources) > 1

    def jsonl(agent_id: str) -> list[JsonLinesSink]:
        if args.quiet:
            return []
        return [JsonLinesSink(tag={"agent_id": agent_id} if many else None)]

    hub = Hub() if config.dashboard.enabled else None
    agents = build_agents(config, sources, scorer, extra_sinks=jsonl, mqtt=not args.no_mqtt,
                          dashboard=hub)
    server = None if hub is None else serve_dashboard(config.dashboard, hub, agents)
    try:
        run_agents(agents)
    finally:
        if server is not None:
            server.close()
    return 0
