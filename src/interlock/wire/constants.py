"""Protocol constants of the MySQL/MariaDB client/server protocol.

Values follow MariaDB's ``include/mysql_com.h``.  :class:`Capability` is 64 bits wide: the low
32 bits are the classic ``CLIENT_*`` flags, bits 32..63 are MariaDB's extended capabilities
(``MARIADB_CLIENT_*``), which travel in otherwise reserved bytes of the handshake packets and are
only exchanged when the server clears bit 0 (``CLIENT_MYSQL`` / ``LONG_PASSWORD``).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class Capability(IntFlag):
    LONG_PASSWORD = 1 << 0  # MariaDB: CLIENT_MYSQL (cleared by servers/clients with extensions)
    FOUND_ROWS = 1 << 1
    LONG_FLAG = 1 << 2
    CONNECT_WITH_DB = 1 << 3
    NO_SCHEMA = 1 << 4
    COMPRESS = 1 << 5
    ODBC = 1 << 6
    LOCAL_FILES = 1 << 7
    IGNORE_SPACE = 1 << 8
    PROTOCOL_41 = 1 << 9
    INTERACTIVE = 1 << 10
    SSL = 1 << 11
    IGNORE_SIGPIPE = 1 << 12
    TRANSACTIONS = 1 << 13
    RESERVED = 1 << 14
    SECURE_CONNECTION = 1 << 15
    MULTI_STATEMENTS = 1 << 16
    MULTI_RESULTS = 1 << 17
    PS_MULTI_RESULTS = 1 << 18
    PLUGIN_AUTH = 1 << 19
    CONNECT_ATTRS = 1 << 20
    PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21
    CAN_HANDLE_EXPIRED_PASSWORDS = 1 << 22
    SESSION_TRACK = 1 << 23
    DEPRECATE_EOF = 1 << 24
    OPTIONAL_RESULTSET_METADATA = 1 << 25  # MySQL 8 only
    ZSTD_COMPRESSION_ALGORITHM = 1 << 26  # MySQL 8 only
    QUERY_ATTRIBUTES = 1 << 27  # MySQL 8 only
    MULTI_FACTOR_AUTHENTICATION = 1 << 28  # MySQL 8 only
    CAPABILITY_EXTENSION = 1 << 29
    SSL_VERIFY_SERVER_CERT = 1 << 30
    REMEMBER_OPTIONS = 1 << 31
    MARIADB_CLIENT_PROGRESS = 1 << 32
    MARIADB_CLIENT_COM_MULTI = 1 << 33
    MARIADB_CLIENT_STMT_BULK_OPERATIONS = 1 << 34
    MARIADB_CLIENT_EXTENDED_METADATA = 1 << 35
    MARIADB_CLIENT_CACHE_METADATA = 1 << 36
    MARIADB_CLIENT_BULK_UNIT_RESULTS = 1 << 37


CLIENT_MYSQL = Capability.LONG_PASSWORD
#: Mask of MariaDB's extended capabilities (bits 32..63).
MARIADB_EXTENDED_MASK = Capability(0xFFFFFFFF << 32)

#: What the proxy may advertise to clients (the server layer intersects this with what the
#: backend offers).  Deliberately absent: COMPRESS (no compression), MARIADB_CLIENT_PROGRESS
#: (progress packets are not relayed), COM_MULTI (removed from MariaDB), BULK_UNIT_RESULTS
#: (MariaDB 11.5+, not tracked), MySQL-8-only bits, and LONG_PASSWORD: it must be clear for the
#: MariaDB extended capabilities to be exchanged at all.  CACHE_METADATA is included because
#: :mod:`interlock.wire.response` handles its result-set variant (metadata-follows byte).
SUPPORTED_CAPABILITIES = (
    Capability.FOUND_ROWS
    | Capability.LONG_FLAG
    | Capability.CONNECT_WITH_DB
    | Capability.NO_SCHEMA
    | Capability.ODBC
    | Capability.LOCAL_FILES
    | Capability.IGNORE_SPACE
    | Capability.PROTOCOL_41
    | Capability.INTERACTIVE
    | Capability.SSL
    | Capability.IGNORE_SIGPIPE
    | Capability.TRANSACTIONS
    | Capability.RESERVED
    | Capability.SECURE_CONNECTION
    | Capability.MULTI_STATEMENTS
    | Capability.MULTI_RESULTS
    | Capability.PS_MULTI_RESULTS
    | Capability.PLUGIN_AUTH
    | Capability.CONNECT_ATTRS
    | Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA
    | Capability.CAN_HANDLE_EXPIRED_PASSWORDS
    | Capability.SESSION_TRACK
    | Capability.DEPRECATE_EOF
    | Capability.MARIADB_CLIENT_STMT_BULK_OPERATIONS
    | Capability.MARIADB_CLIENT_EXTENDED_METADATA
    | Capability.MARIADB_CLIENT_CACHE_METADATA
)


class ServerStatus(IntFlag):
    IN_TRANS = 1
    AUTOCOMMIT = 2
    MORE_RESULTS_EXISTS = 8
    NO_GOOD_INDEX_USED = 16
    NO_INDEX_USED = 32
    CURSOR_EXISTS = 64
    LAST_ROW_SENT = 128
    DB_DROPPED = 256
    NO_BACKSLASH_ESCAPES = 512
    METADATA_CHANGED = 1024
    QUERY_WAS_SLOW = 2048
    PS_OUT_PARAMS = 4096
    IN_TRANS_READONLY = 8192
    SESSION_STATE_CHANGED = 16384


class Command(IntEnum):
    SLEEP = 0
    QUIT = 1
    INIT_DB = 2
    QUERY = 3
    FIELD_LIST = 4
    CREATE_DB = 5
    DROP_DB = 6
    REFRESH = 7
    SHUTDOWN = 8
    STATISTICS = 9
    PROCESS_INFO = 10
    CONNECT = 11
    PROCESS_KILL = 12
    DEBUG = 13
    PING = 14
    TIME = 15
    DELAYED_INSERT = 16
    CHANGE_USER = 17
    BINLOG_DUMP = 18
    TABLE_DUMP = 19
    CONNECT_OUT = 20
    REGISTER_SLAVE = 21
    STMT_PREPARE = 22
    STMT_EXECUTE = 23
    STMT_SEND_LONG_DATA = 24
    STMT_CLOSE = 25
    STMT_RESET = 26
    SET_OPTION = 27
    STMT_FETCH = 28
    DAEMON = 29
    BINLOG_DUMP_GTID = 30
    RESET_CONNECTION = 31
    STMT_BULK_EXECUTE = 250
    MULTI = 254


class CursorType(IntFlag):
    """Flags byte of COM_STMT_EXECUTE (payload offset 5)."""

    NO_CURSOR = 0
    READ_ONLY = 1
    FOR_UPDATE = 2
    SCROLLABLE = 4
    PARAMETER_COUNT_AVAILABLE = 8


class SetOption(IntEnum):
    MULTI_STATEMENTS_ON = 0
    MULTI_STATEMENTS_OFF = 1


class SessionTrackType(IntEnum):
    SYSTEM_VARIABLES = 0
    SCHEMA = 1
    STATE_CHANGE = 2
    GTIDS = 3
    TRANSACTION_CHARACTERISTICS = 4
    TRANSACTION_STATE = 5


class PacketHeader(IntEnum):
    """First payload byte of server responses."""

    OK = 0x00
    LOCAL_INFILE = 0xFB
    EOF = 0xFE
    ERR = 0xFF


class Charset(IntEnum):
    """A few collation ids (the handshake's ``charset`` byte)."""

    BIG5_CHINESE_CI = 1
    LATIN1_SWEDISH_CI = 8
    UTF8_GENERAL_CI = 33
    UTF8MB4_GENERAL_CI = 45
    UTF8MB4_BIN = 46
    BINARY = 63
    UTF8MB4_UNICODE_CI = 224
    UTF8MB4_0900_AI_CI = 255


class ErrorCode(IntEnum):
    CON_COUNT_ERROR = 1040
    OUT_OF_RESOURCES = 1041
    BAD_HOST_ERROR = 1042
    HANDSHAKE_ERROR = 1043
    DBACCESS_DENIED = 1044
    ACCESS_DENIED = 1045
    NO_DB_ERROR = 1046
    UNKNOWN_COM_ERROR = 1047
    BAD_DB_ERROR = 1049
    SERVER_SHUTDOWN = 1053
    DUP_ENTRY = 1062
    PARSE_ERROR = 1064
    UNKNOWN_THREAD = 1094
    UNKNOWN_ERROR = 1105
    HOST_IS_BLOCKED = 1129
    HOST_NOT_PRIVILEGED = 1130
    NO_SUCH_TABLE = 1146
    ABORTING_CONNECTION = 1152
    NET_PACKET_TOO_LARGE = 1153
    NET_READ_ERROR_FROM_PIPE = 1154
    NET_FCNTL_ERROR = 1155
    NET_PACKETS_OUT_OF_ORDER = 1156
    NET_UNCOMPRESS_ERROR = 1157
    NET_READ_ERROR = 1158
    NET_READ_INTERRUPTED = 1159
    NET_ERROR_ON_WRITE = 1160
    NET_WRITE_INTERRUPTED = 1161
    NEW_ABORTING_CONNECTION = 1184
    LOCK_WAIT_TIMEOUT = 1205
    WRONG_ARGUMENTS = 1210
    LOCK_DEADLOCK = 1213
    SPECIFIC_ACCESS_DENIED = 1227
    NOT_SUPPORTED_YET = 1235
    UNKNOWN_STMT_HANDLER = 1243
    NOT_SUPPORTED_AUTH_MODE = 1251
    OPTION_PREVENTS_STATEMENT = 1290
    QUERY_INTERRUPTED = 1317
    PLUGIN_IS_NOT_LOADED = 1524
    ACCESS_DENIED_NO_PASSWORD = 1698
    MALFORMED_PACKET = 1835
    CONNECTION_KILLED = 1927
    STATEMENT_TIMEOUT = 1969
    # client-side (CR_*) codes, used for errors the proxy reports itself
    CR_UNKNOWN_ERROR = 2000
    CONNECTION_ERROR = 2002
    CONN_HOST_ERROR = 2003
    SERVER_GONE_ERROR = 2006
    SERVER_LOST = 2013
    CR_MALFORMED_PACKET = 2027
    SECURE_TRANSPORT_REQUIRED = 3159
    PROGRESS_REPORT = 0xFFFF  # not an error: a MariaDB progress report in an ERR frame
