"""Realistic synthetic orders for demos and benchmarks, made by the real domain.

Deterministic for a given seed: names, e-mails, a catalogue of products and SKUs, addresses
in several countries, a status mix like a web shop's (most orders delivered, some cancelled,
some still open), and dates spread over the last two years, each lifecycle step after the
previous one.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from order_service.domain.order import Order
from order_service.domain.values import Address, Customer, LineItem

FIRST = (
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Dorothy",
    "Mary",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Dennis",
    "Margaret",
    "Linus",
    "Guido",
    "Radia",
    "Hedy",
    "Claude",
    "John",
    "Tim",
    "Sophie",
    "Lars",
    "Ingrid",
    "Pieter",
    "Anouk",
    "Mateo",
    "Lucia",
    "Yuki",
    "Hiroshi",
    "Amara",
    "Kwame",
    "Priya",
    "Arjun",
    "Chen",
    "Mei",
    "Olga",
    "Ivan",
    "Zofia",
    "Tomasz",
    "Aisha",
    "Omar",
    "Fatima",
    "Noah",
    "Emma",
    "Liam",
    "Olivia",
    "Lucas",
    "Mila",
    "Sem",
    "Julia",
    "Daan",
    "Fenna",
)
LAST = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Vaughan",
    "Jackson",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Ritchie",
    "Hamilton",
    "Torvalds",
    "Rossum",
    "Perlman",
    "Lamarr",
    "Shannon",
    "Backus",
    "Berners-Lee",
    "Wilson",
    "Jansen",
    "de Vries",
    "van Dijk",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "Mulder",
    "Garcia",
    "Rossi",
    "Tanaka",
    "Sato",
    "Mensah",
    "Patel",
    "Sharma",
    "Wang",
    "Li",
    "Ivanova",
    "Petrov",
    "Nowak",
    "Kowalski",
    "Khan",
    "Hassan",
    "Müller",
    "Schmidt",
    "Dubois",
    "Martin",
)
DOMAINS = ("example.com", "mail.example", "post.example.org", "inbox.example.net")
ADJECTIVES = (
    "Organic",
    "Classic",
    "Compact",
    "Wireless",
    "Ceramic",
    "Bamboo",
    "Stainless",
    "Vintage",
    "Smart",
    "Foldable",
    "Linen",
    "Cast-iron",
    "Recycled",
    "Portable",
    "Ergonomic",
    "Handmade",
    "Waterproof",
    "Insulated",
    "Scented",
    "Modular",
)
NOUNS = (
    "Teapot",
    "Mug",
    "Kettle",
    "Backpack",
    "Lamp",
    "Chair",
    "Notebook",
    "Headphones",
    "Blender",
    "Jacket",
    "Sneakers",
    "Umbrella",
    "Candle",
    "Frying-pan",
    "Desk",
    "Pillow",
    "Bicycle-bell",
    "Water-bottle",
    "Toaster",
    "Scarf",
)
PLACES = (
    ("NL", "Amsterdam", "1012 {n:02d}"),
    ("NL", "Utrecht", "3511 {n:02d}"),
    ("BE", "Antwerpen", "20{n:02d}"),
    ("DE", "Berlin", "101{n:02d}"),
    ("FR", "Lyon", "690{n:02d}"),
    ("GB", "London", "SW1A {n}AA"),
    ("US", "Boston", "021{n:02d}"),
)
CARRIERS = ("PostNL", "DHL", "DPD", "UPS", "GLS")
STATUS_MIX = (("placed", 5), ("paid", 10), ("shipped", 15), ("delivered", 62), ("cancelled", 8))
CATALOGUE = [
    (f"{noun[:3].upper()}-{adjective[:2].upper()}{n:03d}", f"{adjective} {noun.replace('-', ' ')}")
    for n, (adjective, noun) in enumerate((a, b) for a in ADJECTIVES for b in NOUNS)
]


def synthetic_orders(count: int, *, seed: int = 1, now: datetime | None = None) -> Iterator[Order]:
    """``count`` orders with their pending events (collect them to append)."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    statuses = [status for status, weight in STATUS_MIX for _ in range(weight)]
    for n in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        customer_number = rng.randrange(count // 3 + 1)
        customer = Customer(
            f"cust-{customer_number:07d}",
            f"{first} {last}",
            f"{first}.{last.replace(' ', '')}{customer_number % 97}@{rng.choice(DOMAINS)}".lower(),
        )
        items = [
            LineItem(sku, name, rng.choice((1, 1, 1, 2, 3)), rng.randrange(199, 25_000))
            for sku, name in rng.sample(CATALOGUE, rng.choice((1, 1, 2, 2, 3, 4)))
        ]
        country, city, postcode = rng.choice(PLACES)
        address = Address(
            f"{first} {last}",
            f"{rng.randrange(1, 300)} {rng.choice(LAST)}straat",
            city,
            postcode.format(n=rng.randrange(1, 99)),
            country,
        )
        placed_at = now - timedelta(seconds=rng.randrange(2 * 365 * 24 * 3600))
        order = Order.place(
            order_id=f"ord-{seed}-{n:08d}",
            customer=customer,
            items=items,
            currency="EUR",
            shipping_address=address,
            at=placed_at,
        )
        _live(order, rng.choice(statuses), placed_at, now, rng)
        yield order


def _live(
    order: Order, status: str, placed_at: datetime, now: datetime, rng: random.Random
) -> None:
    at = placed_at
    if status == "placed":
        return
    if status == "cancelled" and rng.random() < 0.5:
        order.cancel(reason="customer changed their mind", at=min(now, at + timedelta(hours=2)))
        return
    at = min(now, at + timedelta(minutes=rng.randrange(1, 90)))
    order.pay(
        amount=order.total,
        currency=order.currency,
        method=rng.choice(("card", "ideal", "paypal", "klarna")),
        transaction_id=f"tx-{rng.getrandbits(48):012x}",
        at=at,
    )
    if status == "cancelled":
        order.cancel(reason="out of stock", at=min(now, at + timedelta(hours=5)))
        return
    if status == "paid":
        return
    at = min(now, at + timedelta(hours=rng.randrange(4, 48)))
    order.ship(carrier=rng.choice(CARRIERS), tracking_number=f"3S{rng.getrandbits(40):012X}", at=at)
    if status == "delivered":
        order.deliver(delivered_at=min(now, at + timedelta(hours=rng.randrange(12, 96))))
