"""What the classifier says about a statement: :class:`Classification` and its flag sets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntFlag

from interlock.sql.hints import HintDirective
from interlock.sql.tables import tables_read


class StatementKind(IntFlag):
    """What a statement does, as far as routing cares (several bits may be set)."""

    UNKNOWN = 1 << 0  # unclassifiable or empty: routes to the primary
    READ = 1 << 1  # SELECT, WITH ... SELECT, VALUES, DO, DESCRIBE, EXPLAIN <read>, HELP
    WRITE = 1 << 2  # DML, DDL, admin statements, anything with effects beyond the session
    SESSION_WRITE = 1 << 3  # SET (session scope), USE, SET NAMES: run on every backend
    BEGIN_TRX = 1 << 4  # BEGIN [WORK], START TRANSACTION [...]
    BEGIN_TRX_READ_ONLY = 1 << 5  # with BEGIN_TRX: START TRANSACTION READ ONLY
    COMMIT = 1 << 6
    ROLLBACK = 1 << 7  # ROLLBACK [WORK] (not ROLLBACK TO SAVEPOINT: that is SAVEPOINT)
    SET_AUTOCOMMIT = 1 << 8  # with SESSION_WRITE; Classification.autocommit has the value
    PREPARE_NAMED = 1 << 9  # PREPARE name FROM ...; a session command
    EXECUTE_NAMED = 1 << 10  # EXECUTE name [USING ...]
    DEALLOCATE = 1 << 11  # DEALLOCATE PREPARE name / DROP PREPARE name; a session command
    LOCK_TABLES = 1 << 12  # LOCK TABLES, FLUSH TABLES ... WITH READ LOCK, BACKUP LOCK
    UNLOCK_TABLES = 1 << 13  # UNLOCK TABLES, BACKUP UNLOCK
    XA = 1 << 14  # XA START/END/PREPARE/COMMIT/ROLLBACK/RECOVER
    CREATE_TMP_TABLE = 1 << 15  # CREATE TEMPORARY TABLE name
    DROP_TABLE = 1 << 16  # DROP [TEMPORARY] TABLE names
    CALL = 1 << 17
    HANDLER = 1 << 18
    LOAD_LOCAL = 1 << 19  # LOAD DATA/XML LOCAL INFILE (with WRITE)
    SHOW = 1 << 20  # with READ
    DDL = 1 << 21  # with WRITE: CREATE/ALTER/DROP/RENAME/TRUNCATE (implicit commit)
    NEXT_TRX = 1 << 22  # SET TRANSACTION ... without scope: characteristics of the next trx
    SAVEPOINT = 1 << 23  # SAVEPOINT, RELEASE SAVEPOINT, ROLLBACK TO [SAVEPOINT]
    USE = 1 << 24  # with SESSION_WRITE: USE db (Classification.database has the name)


class Feature(IntFlag):
    """Properties found anywhere in a statement (outside strings and comments)."""

    NONE = 0
    LOCKING_READ = 1 << 0  # FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE
    SELECT_INTO = 1 << 1  # SELECT ... INTO (OUTFILE, DUMPFILE or variables)
    INTO_FILE = 1 << 2  # SELECT ... INTO OUTFILE / DUMPFILE
    MASTER_ONLY_FUNCTION = 1 << 3  # GET_LOCK, LAST_INSERT_ID(), NEXTVAL, @@identity, ...
    LAST_TARGET = 1 << 4  # FOUND_ROWS(), ROW_COUNT(), SHOW WARNINGS, @@warning_count, ...
    USES_USER_VARS = 1 << 5  # @v anywhere
    ASSIGNS_USER_VARS = 1 << 6  # @v := ..., SET @v = ..., ... INTO @v
    MULTI_STATEMENT = 1 << 7  # more SQL after a top-level ';'
    PRIMARY_ONLY = 1 << 8  # a read only the primary can answer: SHOW MASTER STATUS, ...
    GLOBAL_WRITE = 1 << 9  # SET GLOBAL ... / SET @@global.x
    COMPOUND = 1 << 10  # BEGIN NOT ATOMIC, CREATE PROCEDURE ... BEGIN ... END: not split at ';'


class KindBits:
    """:class:`StatementKind` values as plain ints for hot paths (IntFlag operators are slow)."""

    UNKNOWN = int(StatementKind.UNKNOWN)
    READ = int(StatementKind.READ)
    WRITE = int(StatementKind.WRITE)
    SESSION_WRITE = int(StatementKind.SESSION_WRITE)
    BEGIN_TRX = int(StatementKind.BEGIN_TRX)
    BEGIN_TRX_READ_ONLY = int(StatementKind.BEGIN_TRX_READ_ONLY)
    COMMIT = int(StatementKind.COMMIT)
    ROLLBACK = int(StatementKind.ROLLBACK)
    SET_AUTOCOMMIT = int(StatementKind.SET_AUTOCOMMIT)
    PREPARE_NAMED = int(StatementKind.PREPARE_NAMED)
    EXECUTE_NAMED = int(StatementKind.EXECUTE_NAMED)
    DEALLOCATE = int(StatementKind.DEALLOCATE)
    LOCK_TABLES = int(StatementKind.LOCK_TABLES)
    UNLOCK_TABLES = int(StatementKind.UNLOCK_TABLES)
    XA = int(StatementKind.XA)
    CREATE_TMP_TABLE = int(StatementKind.CREATE_TMP_TABLE)
    DROP_TABLE = int(StatementKind.DROP_TABLE)
    CALL = int(StatementKind.CALL)
    HANDLER = int(StatementKind.HANDLER)
    LOAD_LOCAL = int(StatementKind.LOAD_LOCAL)
    SHOW = int(StatementKind.SHOW)
    DDL = int(StatementKind.DDL)
    NEXT_TRX = int(StatementKind.NEXT_TRX)
    SAVEPOINT = int(StatementKind.SAVEPOINT)
    USE = int(StatementKind.USE)


class FeatureBits:
    """:class:`Feature` values as plain ints for hot paths."""

    NONE = int(Feature.NONE)
    LOCKING_READ = int(Feature.LOCKING_READ)
    SELECT_INTO = int(Feature.SELECT_INTO)
    INTO_FILE = int(Feature.INTO_FILE)
    MASTER_ONLY_FUNCTION = int(Feature.MASTER_ONLY_FUNCTION)
    LAST_TARGET = int(Feature.LAST_TARGET)
    USES_USER_VARS = int(Feature.USES_USER_VARS)
    ASSIGNS_USER_VARS = int(Feature.ASSIGNS_USER_VARS)
    MULTI_STATEMENT = int(Feature.MULTI_STATEMENT)
    PRIMARY_ONLY = int(Feature.PRIMARY_ONLY)
    GLOBAL_WRITE = int(Feature.GLOBAL_WRITE)
    COMPOUND = int(Feature.COMPOUND)


_KIND_FLAGS: dict[int, StatementKind] = {}
_FEATURE_FLAGS: dict[int, Feature] = {}


def kind_flag(bits: int) -> StatementKind:
    """``StatementKind(bits)``, cached (building a composite IntFlag member is slow)."""
    flag = _KIND_FLAGS.get(bits)
    if flag is None:
        flag = _KIND_FLAGS[bits] = StatementKind(bits)
    return flag


def feature_flag(bits: int) -> Feature:
    """``Feature(bits)``, cached."""
    flag = _FEATURE_FLAGS.get(bits)
    if flag is None:
        flag = _FEATURE_FLAGS[bits] = Feature(bits)
    return flag


@dataclass(frozen=True, slots=True)
class Detail:
    """The parts of a classification only a few statement kinds have."""

    name: str | None = None  # PREPARE/EXECUTE/DEALLOCATE statement name (lower case); USE
    # database; CREATE TEMPORARY TABLE table; XA verb (``start``, ``end``, ``commit``...)
    tables: tuple[str, ...] = ()  # DROP TABLE names
    autocommit: bool | None = None  # SET autocommit=<value> (None: not a literal we know)
    prepared: Classification | None = None  # PREPARE name FROM '<text>', EXECUTE IMMEDIATE
    parts: tuple[Classification, ...] = ()  # the statements of a multi-statement, in order


@dataclass(frozen=True, slots=True)
class Classification:
    """The classifier's verdict on one COM_QUERY text (pure data, no routing decision)."""

    kind: StatementKind
    features: Feature = Feature.NONE
    hint: HintDirective | None = None  # from the first comment, if it is a hint
    detail: Detail | None = None
    # The statement's significant tokens (upper case), kept so ``tables`` can be worked out
    # only when a session needs it (one with temporary tables); most never do.
    source: Sequence[bytes] = field(default=(), repr=False, hash=False)
    _tables: tuple[str, ...] | None = field(default=None, repr=False, compare=False,
                                            hash=False)

    @property
    def tables(self) -> tuple[str, ...]:
        """Tables a read names (best effort): ``"db.t"`` or ``"t"``, lower case; ``()`` for
        statements that are not reads.  Computed on first use."""
        tables = self._tables
        if tables is None:
            tables = tables_read(self.source)
            object.__setattr__(self, "_tables", tables)
        return tables

    @property
    def locking_read(self) -> bool:
        return bool(int(self.features) & FeatureBits.LOCKING_READ)

    @property
    def select_into(self) -> bool:
        return bool(int(self.features) & FeatureBits.SELECT_INTO)

    @property
    def master_only_functions(self) -> bool:
        return bool(int(self.features) & FeatureBits.MASTER_ONLY_FUNCTION)

    @property
    def uses_user_vars(self) -> bool:
        return bool(int(self.features) & FeatureBits.USES_USER_VARS)

    @property
    def assigns_user_vars(self) -> bool:
        return bool(int(self.features) & FeatureBits.ASSIGNS_USER_VARS)

    @property
    def multi_statement(self) -> bool:
        return bool(int(self.features) & FeatureBits.MULTI_STATEMENT)

    @property
    def name(self) -> str | None:
        return self.detail.name if self.detail else None

    @property
    def autocommit(self) -> bool | None:
        return self.detail.autocommit if self.detail else None

    @property
    def prepared(self) -> Classification | None:
        return self.detail.prepared if self.detail else None

    @property
    def temporary_table(self) -> str | None:
        """The table a CREATE TEMPORARY TABLE creates ("db.t" or "t", lower case)."""
        return self.name if int(self.kind) & KindBits.CREATE_TMP_TABLE else None

    @property
    def dropped_tables(self) -> tuple[str, ...]:
        return self.detail.tables if self.detail and int(self.kind) & KindBits.DROP_TABLE else ()

    @property
    def database(self) -> str | None:
        """The database a USE statement selects (lower case)."""
        return self.name if int(self.kind) & KindBits.USE else None

    @property
    def parts(self) -> tuple[Classification, ...]:
        """The statements of a multi-statement (``(self,)`` for a single statement)."""
        return self.detail.parts if self.detail and self.detail.parts else (self,)


# The classifier builds one Classification per statement.  A frozen dataclass's __init__ sets
# each field through object.__setattr__ (about twice the cost of the whole construction below);
# the slot descriptors set the same fields directly.  test_sql_classifier_details checks both
# ways give equal objects.
_new = object.__new__
_SET_KIND, _SET_FEATURES, _SET_HINT, _SET_DETAIL, _SET_SOURCE, _SET_TABLES = (
    Classification.__dict__[name].__set__
    for name in ("kind", "features", "hint", "detail", "source", "_tables"))


def make_classification(kind: StatementKind, features: Feature, hint: HintDirective | None,
                        detail: Detail | None, source: Sequence[bytes],
                        tables: tuple[str, ...] | None) -> Classification:
    """``Classification(kind, features, hint, detail, source, tables)``, built faster."""
    obj: Classification = _new(Classification)
    _SET_KIND(obj, kind)
    _SET_FEATURES(obj, features)
    _SET_HINT(obj, hint)
    _SET_DETAIL(obj, detail)
    _SET_SOURCE(obj, source)
    _SET_TABLES(obj, tables)
    return obj
