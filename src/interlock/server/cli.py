"""``interlock start -c FILE [--log-file F]``: run the proxy in the foreground."""

from __future__ import annotations

import argparse
import os

from interlock import log as logging_setup
from interlock.config.model import GlobalConfig
from interlock.errors import ConfigError, InterlockError
from interlock.log import get_logger

log = get_logger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "start",
        help="run the proxy",
        description="Run Interlock in the foreground with a maxscale.cnf-style configuration.",
    )
    parser.add_argument("-c", "--config", required=True, metavar="FILE",
                        help="configuration file")
    parser.add_argument("--log-file", metavar="F",
                        help="also log to this file (overrides log_file/logdir)")
    parser.set_defaults(func=start)


def _log_file(args: argparse.Namespace, log_file: str | None, logdir: str | None) -> str | None:
    if args.log_file:
        return str(args.log_file)
    if log_file:
        return log_file
    if logdir:
        return os.path.join(logdir, "interlock.log")
    return None


def _log_settings(g: GlobalConfig) -> logging_setup.LogSettings:
    return logging_setup.LogSettings(
        throttling=logging_setup.Throttling(*g.log_throttling),
        json=g.log_format == "json",
        info=g.log_info,
        debug=g.log_debug,
        notice=g.log_notice,
        warning=g.log_warning,
        maxlog=g.maxlog,
        syslog=g.syslog,
        ms_timestamp=g.ms_timestamp,
    )


def start(args: argparse.Namespace) -> int:
    logging_setup.setup(log_file=args.log_file)
    from interlock.config.loader import load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("%s", exc)
        return 1
    target = _log_file(args, config.global_.log_file, config.global_.logdir)
    try:
        logging_setup.setup(log_file=target, settings=_log_settings(config.global_))
    except OSError as exc:
        log.error("cannot open log file %s: %s", target, exc)
        return 1
    from interlock.server.app import run

    try:
        return run(config)
    except InterlockError as exc:
        log.error("%s", exc)
        return 1
