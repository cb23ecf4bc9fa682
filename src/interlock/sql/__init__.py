"""Statement text analysis: classification for routing, routing hints, KILL statements.

Pure: no I/O.  ``classify(sql) -> Classification`` is the entry point of the read/write split.
"""

from interlock.sql.classifier import classify
from interlock.sql.hints import Hint, HintAction, HintDirective, HintRoute, parse_hint_comment
from interlock.sql.kinds import Classification, Detail, Feature, StatementKind

__all__ = [
    "Classification",
    "Detail",
    "Feature",
    "Hint",
    "HintAction",
    "HintDirective",
    "HintRoute",
    "StatementKind",
    "classify",
    "parse_hint_comment",
]
