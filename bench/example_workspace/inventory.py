"""A small inventory module: the example `make run` completes in."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Item:
    name: str
    price: float
    quantity: int = 0


@dataclass
class Inventory:
    items: dict[str, Item] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        self.items[item.name] = item

    def total_value(self) -> float:
        """The value of everything in stock."""
        return sum(

    def restock(self, name: str, amount: int) -> None:
        self.items[name].quantity += amount

    def cheapest(self) -> Item | None:
        return min(self.items.values(), key=lambda item: item.price, default=None)
