"""Plain-text reports of the inventory and the orders."""

from __future__ import annotations

from inventory import Inventory
from orders import Order


def stock_report(inventory: Inventory) -> str:
    lines = []
    for item in inventory.items.values():
        lines.append(f"{item.name:<20} {item.quantity:>6} x {item.price:>8.2f}")
    return "\n".join(lines)


def low_stock(inventory: Inventory, threshold: int = 5) -> list[str]:
    return [item.name for item in inventory.items.values() if item.quantity < threshold]


def order_report(orders: list[Order]) -> str:
    lines = []
    for order in orders:
        lines.append(f"{order.number:>6} {order.customer:<20} {order.total_value():>10.2f}")
    return "\n".join(lines)
