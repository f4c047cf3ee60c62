"""Free text as both read models see it: the same words, folded the same way.

Elasticsearch (as shipped for our tests) offers only the standard analyzer, and SQLite's FTS5
its unicode61 tokenizer; they split e-mail addresses and folds accents differently. So words
are made here, once: Unicode word characters, lower-cased, accents removed. Each engine gets
plain space-separated words, which both tokenize identically, and a query is the same words.
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
    shipments = document.get("shipments")
    if shipments:
        parts.extend(shipment["tracking_number"] for shipment in shipments)
    elif document.get("shipment"):  # projected before shipments were kept
        parts.append(document["shipment"]["tracking_number"])
    return " ".join(words(" ".join(str(part) for part in parts if part)))
