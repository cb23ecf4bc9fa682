"""The loader against a corpus of real-world-shaped maxscale.cnf files (``corpus/``).

``corpus/good/NAME.cnf`` must load.  Its sidecar ``NAME.expect.json`` lists every object the
file defines, by kind and in file order, with the values of the parameters it sets
(``"routing.causal_reads"`` reads ``ServiceConfig.routing.causal_reads``), chosen global
values, and the exact warnings (ignored parameters named by file:line).

``corpus/bad/NAME.cnf`` has one kind of mistake.  Its sidecar lists the exact error lines
(file, line, section, key, expected form); loading must raise :class:`ConfigFileError` with
exactly those, so nothing starts half-configured.

Any other exception is a crash and fails the test.  The corpus is copied to a temporary
directory first, so the key files can be made private (git does not keep mode 0600) and
paths in messages are predictable: ``{dir}`` in an expectation is the copied corpus
directory of the file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest

from interlock.config import layers, secrets
from interlock.config.diagnostics import ConfigFileError
from interlock.config.loader import parse_config, parse_text
from interlock.config.model import Config
from interlock.errors import ConfigError

CORPUS = Path(__file__).parent / "corpus"
GOOD = sorted((CORPUS / "good").glob("*.cnf"))
BAD = sorted((CORPUS / "bad").glob("*.cnf"))
KINDS = ("servers", "services", "listeners", "monitors")


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the corpus; the defaults that point outside it (the persisted
    directory, the key directories) point into the temporary directory instead."""
    copy = tmp_path / "corpus"
    shutil.copytree(CORPUS, copy)
    for key_file in copy.rglob(secrets.SECRETS_FILE):
        key_file.chmod(0o600)
    monkeypatch.setattr(layers, "DEFAULT_DATADIR", str(tmp_path / "state"))
    monkeypatch.setattr(secrets, "DEFAULT_DIRS", (str(tmp_path / "keys"),))
    yield copy


def _expectation(path: Path) -> dict[str, Any]:
    return json.loads(path.with_suffix(".expect.json").read_text(encoding="utf-8"))


def _placed(value: Any, directory: Path) -> Any:
    """``value`` with ``{dir}`` replaced in every string."""
    if isinstance(value, str):
        return value.replace("{dir}", str(directory))
    if isinstance(value, list):
        return [_placed(v, directory) for v in value]
    if isinstance(value, dict):
        return {k: _placed(v, directory) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """A model value as JSON would hold it (tuples as lists)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _attribute(obj: Any, path: str) -> Any:
    for part in path.split("."):
        assert is_dataclass(obj) and part in {f.name for f in fields(obj)}, (
            f"{type(obj).__name__} has no field {part!r} (expectation path {path!r})"
        )
        obj = getattr(obj, part)
    return _plain(obj)


def _load(path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """Load ``path`` by its bare name from its directory, as a user runs ``interlock check``."""
    monkeypatch.chdir(path.parent)
    return parse_config(path.name)


# -- the corpus itself ----------------------------------------------------------------------


def test_the_corpus_is_complete() -> None:
    assert len(GOOD) >= 8 and len(BAD) >= 15
    for directory in ("good", "bad"):
        configs = {p.stem for p in (CORPUS / directory).glob("*.cnf")}
        sidecars = {
            p.name.removesuffix(".expect.json") for p in (CORPUS / directory).glob("*.expect.json")
        }
        assert configs == sidecars, (directory, configs ^ sidecars)
    for path in GOOD + BAD:
        expected = _expectation(path)
        assert expected["description"].strip()
        assert set(expected) <= {
            "description",
            "note",
            "objects",
            "global",
            "warnings",
            "errors",
        }, path.name


# -- good files -----------------------------------------------------------------------------


@pytest.mark.parametrize("source", GOOD, ids=[p.stem for p in GOOD])
def test_good_file_loads_as_expected(
    source: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = corpus / "good" / source.name
    expected = _placed(_expectation(source), path.parent)
    config = _load(path, monkeypatch)
    for kind in KINDS:
        objects = getattr(config, kind)
        wanted: dict[str, dict[str, Any]] = expected["objects"].get(kind, {})
        assert list(objects) == list(wanted), kind
        for name, attributes in wanted.items():
            assert objects[name].name == name
            actual = {key: _attribute(objects[name], key) for key in attributes}
            assert actual == attributes, f"{kind} [{name}]"
    glob = {key: _attribute(config.global_, key) for key in expected.get("global", {})}
    assert glob == expected.get("global", {})
    assert list(config.warnings) == expected["warnings"]


@pytest.mark.parametrize("source", GOOD, ids=[p.stem for p in GOOD])
def test_good_file_damaged_line_by_line_never_crashes(source: Path, corpus: Path) -> None:
    """Each good file with one line removed, or cut in half: a Config or a ConfigError,
    nothing else (a cheap fuzz of realistic shapes)."""
    text = source.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    lines = text.split("\n")
    where = str(corpus / "good" / "damaged.cnf")
    for number, line in enumerate(lines):
        for damaged in (
            lines[:number] + lines[number + 1 :],
            [*lines[:number], line[: len(line) // 2], *lines[number + 1 :]],
        ):
            try:
                parse_text("\n".join(damaged), where)
            except ConfigError as exc:
                assert str(exc)


# -- bad files ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", BAD, ids=[p.stem for p in BAD])
def test_bad_file_is_refused_with_exact_errors(
    source: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = corpus / "bad" / source.name
    expected = _placed(_expectation(source), path.parent)
    with pytest.raises(ConfigFileError) as caught:
        _load(path, monkeypatch)
    assert list(caught.value.errors) == expected["errors"]
    assert str(caught.value) == "\n".join(expected["errors"])
