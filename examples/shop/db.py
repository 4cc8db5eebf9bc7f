"""The shop's database: SQLite through SQLAlchemy (the demo needs no server of its own)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    price: Mapped[float]
    stock: Mapped[int]


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    lines: Mapped[list[OrderLine]] = relationship(back_populates="order")


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int]
    order: Mapped[Order] = relationship(back_populates="lines")
    # Loaded lazily, one query per line: the N+1 the demo's report points at.
    product: Mapped[Product] = relationship()


CATALOGUE = [
    ("Dates, Ajwa 1 kg", 95.0, 40),
    ("Arabic coffee 500 g", 48.5, 12),
    ("Oud incense", 210.0, 0),
    ("Saffron 5 g", 65.0, 30),
    ("Rose water 250 ml", 18.0, 80),
    ("Cardamom 200 g", 32.0, 55),
]


def create(url: str) -> Engine:
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        if session.get(Product, 1) is None:
            session.add_all(
                Product(id=i + 1, name=n, price=p, stock=s) for i, (n, p, s) in enumerate(CATALOGUE)
            )
            order = Order(id=1, email="customer@example.com")
            order.lines = [
                OrderLine(product_id=pid, quantity=q)
                for pid, q in [(1, 2), (2, 1), (4, 3), (5, 1), (6, 2), (2, 2)]
            ]
            session.add(order)
    return engine
