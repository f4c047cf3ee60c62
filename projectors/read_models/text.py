"""Free text as both read models see it: the same words, folded the same way.

Elasticsearch (as shipped for our tests) offers only the standard analyzer, and SQLite's FTS5
its unicode61 tokenizer; they split e-mail addresses and folds accents differently. So words
are made here, once: Unicode word characters, lower-cased, accents removed. Each engine gets
plain space-separated words, which both tokenize identically, and a query is the same words.

Relevance is made here too, the same for both engines: a hit's score is the sum of the
weights of what it matches (an exact key, all the words in the customer's fields, all the
words in the products'), so it depends on the document and the query only, never on the
rest of the index: pages cut at a score are stable, and both engines rank alike.
"""

from __future__ import annotations

import re
import unicodedata

from projectors.order_search import Document

WORD = re.compile(r"\w+", re.UNICODE)
ASCII_SEPARATORS = str.maketrans(
    {chr(code): " " for code in range(128) if not (chr(code).isalnum() or chr(code) == "_")}
)
"""In ASCII, what ``\\w`` leaves out: everything but letters, digits and the underscore."""


def words(text: str) -> list[str]:
    lowered = text.lower()
    if lowered.isascii():
        # Nothing to fold, and most text is: no per-character pass, and a table instead of
        # the regex (the same words, in a third less time: every document written pays it).
        return lowered.translate(ASCII_SEPARATORS).split()
    decomposed = unicodedata.normalize("NFKD", lowered)
    folded = "".join(char for char in decomposed if not unicodedata.combining(char))
    return WORD.findall(folded)


EXACT_WEIGHTS = {"order": 100, "tracking": 100, "postcode": 50}
"""Text that is one of these values, whole (case and punctuation aside), ranks its order first."""
CUSTOMER_WEIGHT = 20
"""Every word found in the customer's name or e-mail."""
PRODUCTS_WEIGHT = 10
"""Every word found in the products' names or SKUs."""


def key(text: str) -> str:
    """A value as an exact key: its words, so ``1007ab`` is not ``1007 AB`` but ``1007 ab`` is."""
    return " ".join(words(text))


def exact_keys(document: Document) -> list[str]:
    """``kind:key`` for the values a whole query can be: the order id, tracking numbers,
    the postcode."""
    address = document.get("shipping_address") or {}
    found = [
        ("order", document.get("order_id")),
        ("postcode", address.get("postal_code")),
        *(("tracking", number) for number in _tracking_numbers(document)),
    ]
    return sorted({f"{kind}:{key(str(value))}" for kind, value in found if value})


def customer_words(document: Document) -> str:
    customer = document.get("customer") or {}
    return " ".join(words(f"{customer.get('name') or ''} {customer.get('email') or ''}"))


def product_words(document: Document) -> str:
    items = document.get("items", [])
    return " ".join(words(" ".join(f"{item['sku']} {item['name']}" for item in items)))


def _tracking_numbers(document: Document) -> list[str]:
    shipments = document.get("shipments")
    if shipments:
        return [shipment["tracking_number"] for shipment in shipments]
    if document.get("shipment"):  # projected before shipments were kept
        return [document["shipment"]["tracking_number"]]
    return []


def searchable(document: Document) -> str:
    """Words that find an order: ids, names, email, SKUs, products, tracking, postcode."""
    customer = document.get("customer") or {}
    address = document.get("shipping_address") or {}
    parts = [
        document.get("order_id", ""),
        customer.get("name", ""),
        customer.get("email", ""),
        address.get("postal_code", ""),
        *(item["sku"] for item in document.get("items", [])),
        *(item["name"] for item in document.get("items", [])),
    ]
    parts.extend(_tracking_numbers(document))
    return " ".join(words(" ".join(str(part) for part in parts if part)))
