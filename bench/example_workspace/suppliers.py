"""Suppliers and the deliveries they send to restock the inventory."""

from __future__ import annotations

from dataclasses import dataclass, field

from inventory import Inventory, Item


@dataclass
class Delivery:
    supplier: str
    items: dict[str, Item] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        self.items[item.name] = item

    def total_value(self) -> float:
        """What the delivery is worth."""
        return sum(item.price * item.quantity for item in self.items.values())

    def pieces(self) -> int:
        """How many pieces are delivered."""
        pieces = 0
        for item in self.items.values():
            pieces += item.quantity
        return pieces

    def receive_into(self, inventory: Inventory) -> None:
        for item in self.items.values():
            inventory.restock(item.name, item.quantity)


@dataclass
class Supplier:
    name: str
    email: str
    deliveries: list[Delivery] = field(default_factory=list)

    def deliver(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    def last_delivery(self) -> Delivery | None:
        return self.deliveries[-1] if self.deliveries else None
