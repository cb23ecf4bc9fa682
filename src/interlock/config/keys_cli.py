"""``interlock keys`` and ``interlock passwd``: MaxScale's ``maxkeys`` and ``maxpasswd``.

``interlock keys [-c FILE] [--force] [DIR]`` writes ``DIR/.secrets`` (mode 0600) with a new
random key; ``interlock passwd [-c FILE] [-d DIR] PASSWORD`` prints PASSWORD encrypted with
that key, for any ``password=`` / ``replication_password=`` value.  Without DIR the directory
is the configuration's ``secretsdir`` or ``datadir`` (with ``-c``), else ``/var/lib/interlock``
(``passwd`` then also looks in ``/var/lib/maxscale``, where MaxScale keeps its key).

Exit status: 0 on success, 1 when the key file cannot be written or read, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from interlock.config import secrets
from interlock.config.diagnostics import Diagnostics
from interlock.config.ini import parse_ini
from interlock.errors import ConfigError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add both commands (once, however often it is called)."""
    if "keys" not in sub.choices:
        _register_keys(sub)
    if "passwd" not in sub.choices:
        _register_passwd(sub)


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", metavar="FILE",
        help="take the directory from this file's [maxscale] secretsdir or datadir",
    )  # fmt: skip


def _register_keys(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "keys",
        help="create the key file for encrypted passwords (maxkeys)",
        description="Write DIR/.secrets, a new MaxScale-compatible key, mode 0600.",
    )
    parser.add_argument("directory", nargs="?", metavar="DIR", help="where to write .secrets")
    _config_option(parser)
    parser.add_argument("--force", action="store_true", help="replace an existing key file")
    parser.set_defaults(func=run_keys)


def _register_passwd(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "passwd",
        help="print an encrypted password (maxpasswd)",
        description="Encrypt PASSWORD with the key in DIR/.secrets and print it (hex).",
    )
    parser.add_argument("password", metavar="PASSWORD")
    parser.add_argument(
        "-d", "--dir", dest="directory", metavar="DIR", help="the directory of .secrets"
    )
    _config_option(parser)
    parser.set_defaults(func=run_passwd)


def run_keys(args: argparse.Namespace) -> int:
    try:
        directory = args.directory or _dirs(args.config)[0]
        path = secrets.write_key_file(directory, force=args.force)
    except (ConfigError, OSError) as exc:
        print(f"interlock keys: {_describe(exc)}", file=sys.stderr)
        return 1
    print(f"Wrote {path}")
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    try:
        dirs = (args.directory,) if args.directory else _dirs(args.config)
        path = secrets.find_key_file(dirs)
        if path is None:
            where = " or ".join(os.path.join(d, secrets.SECRETS_FILE) for d in dirs)
            raise secrets.SecretsError(
                f"no key file {where}; create one with 'interlock keys {dirs[0]}'"
            )
        print(secrets.load_key_file(path).encrypt(args.password))
    except (ConfigError, OSError) as exc:
        print(f"interlock passwd: {_describe(exc)}", file=sys.stderr)
        return 1
    return 0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc)


def _dirs(config: str | None) -> tuple[str, ...]:
    """The key directories: from the config's [maxscale] section, else the defaults."""
    if config is None:
        return secrets.DEFAULT_DIRS
    diag = Diagnostics(config)
    with open(config, encoding="utf-8") as handle:
        sections = parse_ini(handle.read(), diag)
    base = os.path.dirname(os.path.abspath(config))
    return secrets.key_dirs(*secrets.key_dir_settings(sections, base))
