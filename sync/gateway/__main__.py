"""Run the gateway (docs/deploy.md).

    python -m sync.gateway [serve] --db-url postgresql+psycopg://u@host/chaoshou --workers 4
    python -m sync.gateway migrate --db-url URL          # apply pending schema migrations
    python -m sync.gateway --db gateway.db --seed-demo   # the demo utility on a SQLite file

Every option comes, in this order of precedence, from the command line, the environment
(`CHAOSHOU_GATEWAY_<OPTION>`, e.g. `CHAOSHOU_GATEWAY_DB_URL`, `CHAOSHOU_GATEWAY_WORKERS`)
or a TOML config file (`--config FILE` or `CHAOSHOU_GATEWAY_CONFIG`; keys are the option
names with underscores: `db_url = "…"`, `workers = 4`). See `--help` for the options.

Fault hook for sync-client tests: `--fault-after-commit N` or the environment variable
`CHAOSHOU_GATEWAY_FAULT=crash_after_commit:N` makes the process exit immediately
(`os._exit(75)`) after the N-th ops batch has been committed, before the response is sent
— the "server committed but never answered" fault.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from pathlib import Path

ENV_PREFIX = "CHAOSHOU_GATEWAY_"
SERVE_ENV = "CHAOSHOU_GATEWAY_SERVE"   # the resolved options, handed to worker processes

# name: (type, default, help); booleans are flags
OPTIONS = {
    "db": (str, None, "SQLite database file"),
    "db_url": (str, None, "SQLAlchemy database URL (postgresql+psycopg://user@host/db)"),
    "host": (str, "127.0.0.1", "address to listen on"),
    "port": (int, 8700, "port to listen on (0: any free port)"),
    "port_file": (str, None, "write the port listened on to this file once bound"),
    "workers": (int, 1, "worker processes sharing the port"),
    "pool_size": (int, 10, "database connections kept per process"),
    "max_in_flight": (int, 64, "requests worked on at once per process; more get 503"),
    "keep_alive": (int, 75, "seconds an idle client connection stays open (longer than the "
                            "handhelds' pauses and a load balancer's idle timeout)"),
    "migrate": (bool, False, "apply pending schema migrations before serving"),
    "seed_demo": (bool, False, "load the demo utility once (implies --migrate)"),
    "demo_accounts": (int, 1200, "accounts of the demo utility"),
    "bench_route_accounts": (int, 0, "add route R900 with N generated accounts"),
    "bench_routes": (int, 0, "instead of R900: N routes B0001… of --bench-route-accounts "
                             "generated accounts each (load benchmarks)"),
    "snapshot_ttl": (int, 3600, "seconds a route snapshot stays readable"),
    "change_retention": (int, 60 * 24 * 3600, "seconds change-feed rows are kept"),
    "platform_key": (str, None, "X-Platform-Key of third-party notices (required, except "
                                "with --seed-demo: demo-platform-key)"),
    "pin_iterations": (int, None, "PBKDF2 iterations of the demo PIN hashes"),
    "fault_after_commit": (int, None, "exit(75) after the N-th committed ops batch"),
    "min_client_version": (str, None, "answer 426 to clients whose X-Client-Version is lower"),
    "no_group_commit": (bool, False, "one transaction per ops batch (for comparison)"),
    "log_level": (str, "info", "logging level of the gateway's logs"),
    "no_access_log": (bool, False, "do not log every request (the access log is on)"),
}
ENV_ALIASES = {"platform_key": "CHAOSHOU_PLATFORM_KEY"}
DEMO_PLATFORM_KEY = "demo-platform-key"   # only with --seed-demo


def parse_fault(value: str | None) -> int | None:
    if not value:
        return None
    kind, _, n = value.partition(":")
    if kind != "crash_after_commit" or not n.isdigit():
        raise SystemExit(f"bad CHAOSHOU_GATEWAY_FAULT {value!r}; use crash_after_commit:N")
    return int(n)


def _parser(command: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=f"python -m sync.gateway {command}",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--config", help="TOML file with option values")
    for name, (kind, default, text) in OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            ap.add_argument(flag, action="store_true", default=None, help=text)
        else:
            ap.add_argument(flag, type=kind, default=None,
                            help=f"{text} (default {default})" if default is not None else text)
    if command == "import":
        ap.add_argument("files", nargs="+", help="export files (.csv or .json)")
    return ap


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _coerce(name: str, value, source: str):
    """`value` of option `name` as its type; anything else stops the gateway naming the
    option and where the value came from (a config file's key, an environment variable)."""
    kind = OPTIONS[name][0]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise SystemExit(f"bad value {value!r} for {name} in {source}: give true or false")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        raise SystemExit(f"bad value {value!r} for {name} in {source}: give a whole number")
    if isinstance(value, (dict, list)):
        raise SystemExit(f"bad value {value!r} for {name} in {source}: give a string")
    return kind(value)


def _env_value(name: str) -> tuple[str | None, str]:
    """The option's value in the environment and the variable it came from:
    CHAOSHOU_GATEWAY_<OPTION>, else the option's older name (CHAOSHOU_PLATFORM_KEY)."""
    for var in (ENV_PREFIX + name.upper(), ENV_ALIASES.get(name)):
        if var and os.environ.get(var) not in (None, ""):
            return os.environ[var], var
    return None, ENV_PREFIX + name.upper()


def resolve(command: str, argv: list[str]) -> dict:
    """Options from flags, then the environment, then the config file, then defaults."""
    args = vars(_parser(command).parse_args(argv))
    config_path = args.pop("config") or os.environ.get(ENV_PREFIX + "CONFIG")
    from_file = {}
    if config_path:
        try:
            from_file = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SystemExit(f"cannot read config file {config_path}: {exc}")
        unknown = set(from_file) - set(OPTIONS)
        if unknown:
            raise SystemExit(f"unknown option(s) in {config_path}: {', '.join(sorted(unknown))}")
    opts = {k: v for k, v in args.items() if k not in OPTIONS}
    for name, (_kind, default, _text) in OPTIONS.items():
        env, var = _env_value(name)
        if args.get(name) is not None:
            opts[name] = args[name]
        elif env is not None:
            opts[name] = _coerce(name, env, f"the environment ({var})")
        elif name in from_file:
            opts[name] = _coerce(name, from_file[name], f"config file {config_path}")
        else:
            opts[name] = default
    if opts["fault_after_commit"] is None:
        opts["fault_after_commit"] = parse_fault(os.environ.get("CHAOSHOU_GATEWAY_FAULT"))
    for name in ("workers", "pool_size", "max_in_flight"):   # 0 would serve nothing
        if opts[name] < 1:
            raise SystemExit(f"bad value {opts[name]} for {name}: give at least 1")
    if bool(opts["db"]) == bool(opts["db_url"]):
        raise SystemExit("give exactly one of --db FILE or --db-url URL")
    opts["url"] = opts["db_url"] or "sqlite:///" + str(Path(opts["db"]).resolve())
    if command == "serve" and not opts["platform_key"]:
        if not opts["seed_demo"]:   # never a guessable key on a real gateway
            raise SystemExit("refusing to start without a platform key: give --platform-key "
                             "KEY (or CHAOSHOU_GATEWAY_PLATFORM_KEY, or platform_key in --config)")
        opts["platform_key"] = DEMO_PLATFORM_KEY
    return opts


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in ("serve", "migrate", "import") else "serve"
    opts = resolve(command, argv)
    from sync.gateway import observe
    observe.setup_logging(opts["log_level"])
    if command == "migrate":
        from sync.gateway import migrate
        from sync.gateway.db import make_engine
        engine = make_engine(opts["url"], pool_size=1)
        before, after = migrate.upgrade(engine)
        engine.dispose()
        print(f"schema revision {before or 'none'} -> {after}")
        return 0
    if command == "import":
        from sync.gateway import importer
        return importer.main(opts)
    return serve(opts)


def serve(opts: dict) -> int:
    import uvicorn

    from sync.gateway.migrate import SchemaNotCurrent
    from sync.gateway.serve import app_from_options, prepare
    try:
        prepare(opts)
    except SchemaNotCurrent as exc:
        print(f"gateway not started: {exc}", file=sys.stderr)
        return 2
    common = dict(host=opts["host"], port=opts["port"], log_level=opts["log_level"].lower(),
                  access_log=False, timeout_graceful_shutdown=10,
                  timeout_keep_alive=opts["keep_alive"])
    if opts["workers"] > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import tempfile
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="chaoshou-metrics-")
    if opts["workers"] <= 1:
        config = uvicorn.Config(app_from_options(opts), **common)
    else:
        os.environ[SERVE_ENV] = json.dumps(opts)
        config = uvicorn.Config("sync.gateway.serve:app_from_env", factory=True,
                                workers=opts["workers"], **common)
    # bind here (as uvicorn.run would) to learn the port: with --port 0 the system picks a
    # free one, and --port-file tells it to whoever started us (tests: no pick-then-bind race)
    sock = config.bind_socket()
    if opts["port_file"]:
        tmp = Path(opts["port_file"] + ".tmp")
        tmp.write_text(str(sock.getsockname()[1]), encoding="ascii")
        tmp.replace(opts["port_file"])
    server = uvicorn.Server(config)
    if opts["workers"] <= 1:
        server.run(sockets=[sock])
    else:
        import inspect

        from uvicorn.supervisors import Multiprocess
        # uvicorn before 0.30 takes the worker's entry point as `target`
        older = "target" in inspect.signature(Multiprocess).parameters
        Multiprocess(config, sockets=[sock], **({"target": server.run} if older else {})).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
