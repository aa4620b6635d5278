"""The command line: `python -m airflow_provider_lingxing.testing.simulator --port 8765 [--help]`."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable
from typing import Any

from airflow_provider_lingxing.testing.simulator.config import HOST, SimulatorConfig, settable_fields
from airflow_provider_lingxing.testing.simulator.service import STATS_PATH, LingxingSimulator


def _pairs(values: list[str] | None, cast: Callable[[str], Any], flag: str) -> dict[str, Any]:
    found = {}
    for value in values or ():
        key, sep, raw = value.partition("=")
        if not sep:
            raise SystemExit(f"{flag} expects KEY=VALUE, got {value!r}")
        found[key] = cast(raw)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_lingxing.testing.simulator",
        description="Serve a local Lingxing OpenAPI simulator (on 127.0.0.1 by default) until interrupted.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (0: a free one)")
    parser.add_argument("--host", default=HOST, help="address to listen on (%(default)s)")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a --host other than loopback (it serves a known secret)"
    )
    parser.add_argument("--certfile", help="serve HTTPS with this PEM certificate (chain)")
    parser.add_argument("--keyfile", help="the PEM private key of --certfile (if not inside it)")
    for f in settable_fields().values():
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=f.metadata["help"])
        else:
            cast = f.metadata.get("type") or type(f.default)
            parser.add_argument(flag, type=cast, default=f.default, help=f.metadata["help"] + " (%(default)s)")
    parser.add_argument("--extra-app", action="append", metavar="APP_ID=SECRET", help="another accepted app")
    parser.add_argument("--endpoint-latency", action="append", metavar="PATH=SECONDS", help="latency of one path")
    parser.add_argument("--capacity", action="append", metavar="PATH=N", help="bucket capacity of one path")
    parser.add_argument("--fault-path", action="append", metavar="PATH", help="limit faults to these paths")
    parser.add_argument("--fail-task-id", action="append", type=int, metavar="ID", help="this task ends fatal")
    parser.add_argument("--sellers-json", metavar="FILE", help="a JSON file with the seller list to serve")
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    settings: dict[str, Any] = {name: getattr(args, name) for name in settable_fields()}
    settings["extra_apps"] = _pairs(args.extra_app, str, "--extra-app")
    settings["endpoint_latency"] = _pairs(args.endpoint_latency, float, "--endpoint-latency")
    settings["capacities"] = _pairs(args.capacity, int, "--capacity")
    settings["fault_paths"] = set(args.fault_path) if args.fault_path else None
    settings["fail_task_ids"] = set(args.fail_task_id or ())
    if args.sellers_json:
        with open(args.sellers_json, encoding="utf-8") as sellers:
            settings["sellers"] = json.load(sellers)
    return SimulatorConfig(**settings)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        simulator = LingxingSimulator(
            config,
            port=args.port,
            host=args.host,
            allow_remote=args.allow_remote,
            certfile=args.certfile,
            keyfile=args.keyfile,
        )
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with simulator:
        print(f"Lingxing OpenAPI simulator listening on {simulator.base_url}", flush=True)
        print(f"app id: {simulator.app_id}", flush=True)
        print(f"app secret: {simulator.app_secret}", flush=True)
        print(f"AIRFLOW_CONN_LINGXING_DEFAULT='{simulator.connection_json()}'", flush=True)
        print(f"stats: GET {simulator.base_url}{STATS_PATH}", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
