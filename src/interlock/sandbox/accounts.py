"""SQL that sets up a sandbox's schemas and accounts (run as root on the primary)."""

from __future__ import annotations

from interlock.sandbox.model import MARKER_SCHEMA, SCHEMAS, Account


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def account_name(user: str, host: str) -> str:
    return f"{quote_string(user)}@{quote_string(host)}"


def account_sql(account: Account) -> list[str]:
    """CREATE USER + GRANTs for every host of ``account`` (mysql_native_password on 10.11)."""
    statements: list[str] = []
    for host in account.hosts:
        name = account_name(account.user, host)
        statements.append(f"CREATE USER {name} IDENTIFIED BY {quote_string(account.password)}")
        for grant in account.grants:
            on_part, _, option = grant.partition(" WITH ")
            suffix = f" WITH {option}" if option else ""
            statements.append(f"GRANT {on_part} TO {name}{suffix}")
    return statements


def schema_sql() -> list[str]:
    statements = [f"CREATE DATABASE IF NOT EXISTS `{schema}`" for schema in SCHEMAS]
    statements += [
        f"CREATE DATABASE IF NOT EXISTS `{MARKER_SCHEMA}`",
        f"CREATE TABLE IF NOT EXISTS `{MARKER_SCHEMA}`.`marker` ("
        " id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " token VARCHAR(64) NOT NULL,"
        " written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
        ") ENGINE=InnoDB",
    ]
    return statements


#: Run on every server with sql_log_bin=0 right after mariadb-install-db: root logs in only on
#: the unix socket (mariadb-install-db also creates passwordless root@127.0.0.1/::1/hostname).
LOCAL_ROOT_CLEANUP = (
    "SET SESSION sql_log_bin=0;"
    " SET @drop_sql = (SELECT GROUP_CONCAT(CONCAT(QUOTE(User), '@', QUOTE(Host)))"
    "  FROM mysql.user WHERE User='root' AND Host<>'localhost');"
    " SET @drop_sql = IF(@drop_sql IS NULL, 'DO 0', CONCAT('DROP USER ', @drop_sql));"
    " PREPARE drop_roots FROM @drop_sql; EXECUTE drop_roots; DEALLOCATE PREPARE drop_roots"
)
