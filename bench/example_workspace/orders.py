"""Customer orders: what was bought, for how much, and where it goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from inventory import Inventory, Item


@dataclass
class Order:
    number: int
    customer: str
    placed: date
    items: dict[str, Item] = field(default_factory=dict)
    shipped: bool = False

    def add(self, item: Item) -> None:
        self.items[item.name] = item

    def remove(self, name: str) -> None:
        del self.items[name]

    def total_value(self) -> float:
        """What the order costs."""
        return sum(item.price * item.quantity for item in self.items.values())

    def pieces(self) -> int:
        """How many pieces the order holds."""
        pieces = 0
        for item in self.items.values():
            pieces += item.quantity
        return pieces

    def ship_from(self, inventory: Inventory) -> None:
        for item in self.items.values():
            inventory.items[item.name].quantity -= item.quantity
        self.shipped = True


def open_orders(orders: list[Order]) -> list[Order]:
    return [order for order in orders if not order.shipped]


def orders_of(orders: list[Order], customer: str) -> list[Order]:
    return [order for order in orders if order.customer == customer]
