"""Interlock: a high-availability proxy for MariaDB and MySQL replication clusters."""

__version__ = "0.1.0"
