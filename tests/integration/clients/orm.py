"""An SQLAlchemy ORM round trip: declarative model, create table, add / commit / query /
update / delete, a rolled-back transaction; returns what the application observed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Numeric, String, create_engine, func, select
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from tests.integration.clients.target import Target

#: SQLAlchemy dialect+driver names exercised (URL drivername)
DRIVERS = ("mysql+pymysql", "mysql+mysqldb", "mysql+mysqlconnector", "mariadb+mariadbconnector")


def make_engine(t: Target, drivername: str) -> Engine:
    url = URL.create(
        drivername,
        username=t.user,
        password=t.password,
        host=t.host,
        port=t.port,
        database=t.database,
        query={"charset": "utf8mb4"} if "mariadbconnector" not in drivername else {},
    )
    return create_engine(url, pool_pre_ping=True)


def make_model(table: str) -> tuple[type[DeclarativeBase], type[Any]]:
    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = table
        id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
        name: Mapped[str] = mapped_column(String(50, collation="utf8mb4_general_ci"))
        price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
        created: Mapped[dt.datetime]
        tags: Mapped[Any] = mapped_column(JSON)
        note: Mapped[str | None] = mapped_column(String(200, collation="utf8mb4_general_ci"))

    return Base, Item


def _snapshot(session: Session, item_cls: type[Any]) -> list[tuple[Any, ...]]:
    items = session.scalars(select(item_cls).order_by(item_cls.id)).all()
    return [(i.id, i.name, i.price, i.created, i.tags, i.note) for i in items]


def _seed(item_cls: type[Any]) -> list[Any]:
    when = dt.datetime(2024, 5, 17, 12, 30, 45)
    return [
        item_cls(name="widget", price=Decimal("9.99"), created=when, tags=["a", "b"], note=None),
        item_cls(
            name="gadget 😀",
            price=Decimal("1234.50"),
            created=when,
            tags={"color": "blau", "n": 3},
            note="ünïcode",
        ),
        item_cls(name="doohickey", price=Decimal("0.01"), created=when, tags=[], note="x" * 200),
    ]


def _scenario(session: Session, item_cls: type[Any]) -> list[Any]:
    seen: list[Any] = []
    session.add_all(_seed(item_cls))
    session.commit()
    seen.append(("after insert", _snapshot(session, item_cls)))

    gadget = session.scalars(select(item_cls).where(item_cls.name.like("gadget%"))).one()
    gadget.price = Decimal("999.00")
    gadget.tags = {"color": "rot"}
    session.commit()
    seen.append(("after update", _snapshot(session, item_cls)))

    session.delete(session.get(item_cls, 1))
    session.commit()
    seen.append(("after delete", _snapshot(session, item_cls)))

    session.add(
        item_cls(
            name="doomed",
            price=Decimal("1.00"),
            created=dt.datetime(2000, 1, 1),
            tags=None,
            note=None,
        )
    )
    session.flush()
    seen.append(("in transaction", session.scalar(select(func.count()).select_from(item_cls))))
    session.rollback()
    seen.append(("after rollback", _snapshot(session, item_cls)))
    return seen


def round_trip(t: Target, drivername: str) -> list[Any]:
    """The observations of one ORM session; the table is private to (driver, target)."""
    table = f"orm_items_{drivername.split('+')[1]}_{t.name}"
    base, item_cls = make_model(table)
    engine = make_engine(t, drivername)
    try:
        base.metadata.drop_all(engine)
        base.metadata.create_all(engine)
        with Session(engine) as session:
            seen = _scenario(session, item_cls)
        base.metadata.drop_all(engine)
        return seen
    finally:
        engine.dispose()
