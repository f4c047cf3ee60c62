"""The read-model contract: the same documents and queries give the same results on every engine."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from order_service.personal.codec import PLAIN
from projectors.order_search import Document, fold
from projectors.port import Changes, DeadLetter, OrderSearchIndex, SearchPage, SearchQuery
from tests.factories import recorded_events

Settle = Callable[[], None]
"""Make the last writes visible to searches (Elasticsearch refresh; nothing on SQLite)."""

CUSTOMERS = [
    {"id": "c-ada", "name": "Ada Lovelace", "email": "ada@analytical.org"},
    {"id": "c-grace", "name": "Grace Hopper", "email": "grace.hopper@navy.mil"},
    {"id": "c-rene", "name": "René Descartes", "email": "rene@cogito.fr"},
]
PRODUCTS = [
    {"sku": "TEA-EG", "name": "Earl Grey tea", "quantity": 1, "unit_price": 450},
    {"sku": "MUG-EN", "name": "Enamel mug", "quantity": 2, "unit_price": 1200},
    {"sku": "POT-CI", "name": "Cast iron teapot", "quantity": 1, "unit_price": 5900},
]
LIVES = [(), ("pay",), ("pay", "ship"), ("pay", "ship", "deliver"), ("cancel",), ("pay", "cancel")]


def sample_documents(prefix: str) -> dict[str, Document]:
    """18 orders: every customer, product, status and a spread of dates and totals."""
    documents = {}
    for n in range(18):
        order_id = f"{prefix}{n:02d}"
        events = recorded_events(
            order_id,
            first_position=1000 + 10 * n,
            customer=CUSTOMERS[n % 3],
            items=[PRODUCTS[n % 3], *([PRODUCTS[(n + 1) % 3]] if n % 2 else [])],
            postal_code=f"10{n:02d} AB",
            steps=LIVES[n % len(LIVES)],
            placed_at=f"2025-{1 + n % 12:02d}-{1 + n:02d}T08:00:00+00:00",
        )
        document = fold(events, PLAIN)
        assert document is not None
        documents[order_id] = document
    return documents


class ReadModelContract:
    """Subclasses provide ``index`` (a fresh, set-up generation) and ``settle`` fixtures."""

    @pytest.fixture
    def loaded(self, index: OrderSearchIndex, settle: Settle, prefix: str) -> dict[str, Document]:
        documents = sample_documents(prefix)
        index.write(Changes(documents=documents, checkpoint=1180))
        settle()
        return documents

    @pytest.fixture
    def prefix(self) -> str:
        import uuid

        return f"o{uuid.uuid4().hex[:8]}-"

    def ids(self, index: OrderSearchIndex, **query: object) -> list[str]:
        page = index.search(SearchQuery(**query))  # type: ignore[arg-type]
        return [hit["order_id"] for hit in page.hits]

    def test_documents_are_read_back_whole(
        self, index: OrderSearchIndex, loaded: dict[str, Document]
    ) -> None:
        order_id, document = next(iter(loaded.items()))

        assert index.get(order_id) == document
        assert index.documents([order_id, "nope"]) == {order_id: document}
        assert index.get("nope") is None
        assert index.count() == 18

    def test_an_older_version_never_replaces_a_newer_one(
        self, index: OrderSearchIndex, loaded: dict[str, Document], settle: Settle
    ) -> None:
        order_id, newest = next((k, v) for k, v in loaded.items() if v["version"] >= 2)
        older = {**newest, "version": newest["version"] - 1, "status": "placed"}

        index.write(Changes(documents={order_id: older}))
        index.write(Changes(documents={order_id: newest}))
        settle()

        assert index.get(order_id) == newest

    def test_a_batch_sent_before_the_last_completes_keeps_versions_and_checkpoints(
        self, index: OrderSearchIndex, loaded: dict[str, Document], settle: Settle
    ) -> None:
        order_id, newest = next((k, v) for k, v in loaded.items() if v["version"] >= 2)
        older = {**newest, "version": newest["version"] - 1, "status": "placed"}

        # The newer document is sent first, as when the projector's writer has the next
        # batch under way; the older one, in a batch completed later, must not replace it.
        newer_batch = index.send(Changes(documents={order_id: newest}, checkpoint=1185))
        older_batch = index.send(Changes(documents={order_id: older}, checkpoint=1190))
        newer_batch()
        assert index.checkpoint().position == 1185
        older_batch()
        settle()

        assert index.get(order_id) == newest
        assert index.checkpoint().position == 1190

    def test_a_rebuild_sized_write_lands_whole_and_scans_back_in_order(
        self, index: OrderSearchIndex, loaded: dict[str, Document], settle: Settle, prefix: str
    ) -> None:
        template = next(iter(loaded.values()))
        many = {
            f"{prefix}bulk{n:05d}": {**template, "order_id": f"{prefix}bulk{n:05d}"}
            for n in range(2600)
        }
        older = {order_id: {**document, "version": 0} for order_id, document in loaded.items()}

        index.write(Changes(documents={**many, **older}, checkpoint=5000))
        settle()

        assert index.count() == 18 + 2600
        assert index.documents(list(loaded)) == loaded, "older versions were ignored"
        scanned = [document["order_id"] for document in index.scan()]
        assert scanned == sorted([*loaded, *many])
        assert index.checkpoint().position == 5000

    def test_the_checkpoint_is_stored_with_the_documents(
        self, index: OrderSearchIndex, loaded: dict[str, Document]
    ) -> None:
        checkpoint = index.checkpoint()

        assert checkpoint.position == 1180
        assert checkpoint.updated_at is not None
        index.write(Changes(checkpoint=1190))
        assert index.checkpoint().position == 1190

    def test_dead_letters_are_kept_counted_and_cleared(
        self, index: OrderSearchIndex, settle: Settle
    ) -> None:
        letters = [
            DeadLetter(
                position,
                f"order-x{position}",
                0,
                "OrderPaid",
                f"boom {position}",
                datetime.now(UTC),
            )
            for position in (5, 9)
        ]
        index.write(Changes(dead_letters=letters, checkpoint=9))
        settle()

        assert index.dead_letter_count() == 2
        assert [letter.position for letter in index.dead_letters()] == [5, 9]
        assert index.dead_letters(limit=1, newest_first=True)[0].error == "boom 9"
        index.clear_dead_letters([5])
        settle()
        assert [letter.position for letter in index.dead_letters()] == [9]

    @pytest.mark.parametrize(
        ("text", "matches"),
        [
            ("ada", lambda d: d["customer"]["id"] == "c-ada"),
            ("Lovel", lambda d: d["customer"]["id"] == "c-ada"),
            ("grace hopper", lambda d: d["customer"]["id"] == "c-grace"),
            ("hopper@navy.mil", lambda d: d["customer"]["id"] == "c-grace"),
            ("rene", lambda d: d["customer"]["id"] == "c-rene"),
            ("René Descartes", lambda d: d["customer"]["id"] == "c-rene"),
            ("teapot", lambda d: "POT-CI" in d["skus"]),
            ("POT-CI", lambda d: "POT-CI" in d["skus"]),
            ("1007 AB", lambda d: d["shipping_address"]["postal_code"] == "1007 AB"),
            ("earl grey ada", lambda d: "TEA-EG" in d["skus"] and d["customer"]["id"] == "c-ada"),
            ("nobody", lambda d: False),
        ],
    )
    def test_free_text_finds_names_emails_products_skus_and_postcodes(
        self,
        index: OrderSearchIndex,
        loaded: dict[str, Document],
        text: str,
        matches: Callable[[Document], bool],
    ) -> None:
        found = self.ids(index, text=text, limit=100)

        assert set(found) == {order_id for order_id, d in loaded.items() if matches(d)}
        assert len(found) == len(set(found))

    def test_free_text_finds_an_order_by_its_id_and_tracking_number(
        self, index: OrderSearchIndex, loaded: dict[str, Document]
    ) -> None:
        shipped = next(d for d in loaded.values() if d["shipment"])

        assert self.ids(index, text=shipped["order_id"]) == [shipped["order_id"]]
        assert self.ids(index, text=shipped["shipment"]["tracking_number"]) == [shipped["order_id"]]

    @pytest.mark.parametrize(
        "text",
        [
            '"',
            "*",
            "ada OR grace",
            "NEAR(ada grace)",
            "customer:ada",
            "(ada",
            "a\\b",
            "-ada",
            "ada*",
            "' OR 1=1 --",
            "}{",
            "^",
            "sku_1",  # one word of ours, two of FTS5's tokenizer: a phrase
            "a\u19b0b",  # the same: a vowel sign the tokenizer does not keep in words
        ],
    )
    def test_query_syntax_in_free_text_is_just_words(
        self, index: OrderSearchIndex, loaded: dict[str, Document], text: str
    ) -> None:
        page = index.search(SearchQuery(text=text, limit=100))

        if text in ("ada OR grace", "NEAR(ada grace)"):
            assert page.hits == []  # every word must match, "or" and "near" included
        if text in ("-ada", "ada*", "(ada", "customer:ada"):
            assert all(
                "ada" in hit["customer"]["name"].lower() or "ada" in hit["customer"]["email"]
                for hit in page.hits
            )

    def test_filters_by_status_customer_email_sku_dates_and_totals(
        self, index: OrderSearchIndex, loaded: dict[str, Document]
    ) -> None:
        def expected(keep: Callable[[Document], bool]) -> set[str]:
            return {order_id for order_id, d in loaded.items() if keep(d)}

        assert set(self.ids(index, statuses=("paid",), limit=100)) == expected(
            lambda d: d["status"] == "paid"
        )
        assert set(self.ids(index, statuses=("shipped", "delivered"), limit=100)) == expected(
            lambda d: d["status"] in ("shipped", "delivered")
        )
        assert set(self.ids(index, customer_id="c-rene", limit=100)) == expected(
            lambda d: d["customer"]["id"] == "c-rene"
        )
        assert set(self.ids(index, email="grace.hopper@navy.mil", limit=100)) == expected(
            lambda d: d["customer"]["email"] == "grace.hopper@navy.mil"
        )
        assert set(self.ids(index, sku="MUG-EN", limit=100)) == expected(
            lambda d: "MUG-EN" in d["skus"]
        )
        assert set(
            self.ids(
                index,
                placed_from="2025-03-01T00:00:00.000000Z",
                placed_to="2025-06-01T00:00:00.000000Z",
                limit=100,
            )
        ) == expected(lambda d: "2025-03-01" <= d["placed_at"] < "2025-06-01")
        assert set(self.ids(index, min_total=2000, max_total=6000, limit=100)) == expected(
            lambda d: 2000 <= d["total"] <= 6000
        )

    def test_a_currency_filter_keeps_a_total_range_in_that_currency(
        self, index: OrderSearchIndex, settle: Settle, prefix: str
    ) -> None:
        documents = sample_documents(prefix)
        for n, document in enumerate(documents.values()):
            document["currency"] = ("EUR", "GBP", "JPY")[n % 3]
        index.write(Changes(documents=documents, checkpoint=1180))
        settle()

        def expected(currency: str, low: int = 0) -> set[str]:
            return {
                order_id
                for order_id, d in documents.items()
                if d["currency"] == currency and d["total"] >= low
            }

        assert set(self.ids(index, currency="GBP", limit=100)) == expected("GBP")
        assert set(self.ids(index, currency="JPY", min_total=2000, limit=100)) == expected(
            "JPY", 2000
        )
        assert self.ids(index, currency="USD", limit=100) == []
        assert self.ids(index, currency="eur", limit=100) == []  # exact: codes are upper case
        # Counted in that currency too, alone and with words (each engine's count-only paths).
        assert index.search(SearchQuery(currency="GBP")).total == len(expected("GBP"))
        for sort in ("relevance", "placed_at"):
            page = index.search(SearchQuery(text="ada", currency="GBP", sort=sort))
            assert page.total == len(
                expected("GBP")
                & {o for o, d in documents.items() if d["customer"]["id"] == "c-ada"}
            )
        # A range without a currency still spans them all (as it did before the filter).
        assert len(self.ids(index, min_total=0, limit=100)) == len(documents)

    def test_filters_combine_with_free_text(
        self, index: OrderSearchIndex, loaded: dict[str, Document]
    ) -> None:
        found = set(
            self.ids(index, text="ada", statuses=("placed", "cancelled"), min_total=1000, limit=100)
        )

        assert found == {
            order_id
            for order_id, d in loaded.items()
            if d["customer"]["id"] == "c-ada"
            and d["status"] in ("placed", "cancelled")
            and d["total"] >= 1000
        }

    def test_a_status_is_not_a_word_of_the_orders_text(
        self, index: OrderSearchIndex, loaded: dict[str, Document]
    ) -> None:
        statuses = {d["status"] for d in loaded.values()}
        assert statuses >= {"paid", "delivered", "cancelled"}
        for status in statuses:
            assert self.ids(index, text=status, limit=100) == []

    def test_free_text_with_a_status_follows_the_orders_status(
        self, index: OrderSearchIndex, loaded: dict[str, Document], settle: Settle
    ) -> None:
        """A status change alone, the words the same, moves the order between statuses."""
        order_id, paid = next((k, v) for k, v in loaded.items() if v["status"] == "paid")
        name = paid["customer"]["name"].split()[0]

        index.write(
            Changes(
                documents={order_id: {**paid, "version": paid["version"] + 1, "status": "shipped"}}
            )
        )
        settle()

        assert order_id not in self.ids(index, text=name, statuses=("paid",), limit=100)
        assert order_id in self.ids(index, text=name, statuses=("shipped",), limit=100)
        for sort in ("relevance", "placed_at"):
            shipped = index.search(
                SearchQuery(text=name, statuses=("partially_shipped", "shipped"), sort=sort)
            )
            assert order_id in [hit["order_id"] for hit in shipped.hits]
            assert shipped.total == 1 + sum(
                1
                for k, d in loaded.items()
                if k != order_id
                and d["customer"]["name"] == paid["customer"]["name"]
                and d["status"] in ("partially_shipped", "shipped")
            )

    @pytest.mark.parametrize("sort", ["placed_at", "total", "updated_at"])
    @pytest.mark.parametrize("descending", [True, False])
    def test_sorts_with_the_order_id_breaking_ties(
        self, index: OrderSearchIndex, loaded: dict[str, Document], sort: str, descending: bool
    ) -> None:
        expected = sorted(
            loaded.values(), key=lambda d: (d[sort], d["order_id"]), reverse=descending
        )

        found = self.ids(index, sort=sort, descending=descending, limit=100)

        assert found == [d["order_id"] for d in expected]

    @pytest.mark.parametrize("sort", ["placed_at", "total"])
    def test_keyset_pages_cover_everything_once(
        self, index: OrderSearchIndex, loaded: dict[str, Document], sort: str
    ) -> None:
        query = SearchQuery(sort=sort, limit=5)  # type: ignore[arg-type]
        seen: list[str] = []
        while True:
            page = index.search(query)
            seen += [hit["order_id"] for hit in page.hits]
            assert page.total == 18
            if len(page.hits) < query.limit:
                break
            last = page.hits[-1]
            query = replace(query, after=(last[sort], last["order_id"]))

        assert len(seen) == len(set(seen)) == 18

    @pytest.mark.parametrize("sort", ["placed_at", "total", "updated_at"])
    @pytest.mark.parametrize("descending", [True, False])
    @pytest.mark.parametrize("limit", [2, 100])
    @pytest.mark.parametrize(
        "filters",
        [
            {"statuses": ("paid", "shipped", "delivered")},
            {"statuses": ("placed", "cancelled"), "min_total": 1000},
            {"statuses": ("delivered",), "placed_from": "2025-02-01T00:00:00.000000Z"},
            {"min_total": 1000, "max_total": 8000},
            {"text": "tea"},
            {"text": "ada", "max_total": 8000},
            {"text": "ada", "statuses": ("delivered",)},
            {"text": "ada", "statuses": ("paid", "shipped", "delivered")},
        ],
        ids=[
            "statuses",
            "statuses-total",
            "status-placed",
            "total",
            "text",
            "text-total",
            "text-status",
            "text-statuses",
        ],
    )
    def test_filtered_pages_come_sorted_and_cover_every_match_once(
        self,
        index: OrderSearchIndex,
        loaded: dict[str, Document],
        sort: str,
        descending: bool,
        limit: int,
        filters: dict[str, Any],
    ) -> None:
        """Small pages (the SQLite read model then walks the sort's index) and one large."""
        matching = set(self.ids(index, limit=100, **filters))
        if filters.get("text", "ada") == "ada":  # (other words are the other tests')
            assert matching == {
                order_id
                for order_id, d in loaded.items()
                if ("text" not in filters or d["customer"]["id"] == "c-ada")
                and d["status"] in filters.get("statuses", (d["status"],))
                and filters.get("min_total", 0) <= d["total"] <= filters.get("max_total", 10**9)
                and d["placed_at"] >= filters.get("placed_from", "")
            }
        expected = sorted(
            (loaded[order_id] for order_id in matching),
            key=lambda d: (d[sort], d["order_id"]),
            reverse=descending,
        )
        query = SearchQuery(sort=sort, descending=descending, limit=limit, **filters)  # type: ignore[arg-type]
        seen: list[str] = []
        while True:
            page = index.search(query)
            assert page.total == len(expected)
            seen += [hit["order_id"] for hit in page.hits]
            if len(page.hits) < limit:
                break
            last = page.hits[-1]
            query = replace(query, after=(last[sort], last["order_id"]))

        assert expected
        assert seen == [d["order_id"] for d in expected]


def variant(base: Document, order_id: str, placed_at: str, **fields: object) -> Document:
    """A copy of ``base`` as another order, placed at another time, with ``fields`` replaced."""
    document = {**copy.deepcopy(base), "order_id": order_id, "placed_at": placed_at, **fields}
    return document


def shipped_with(base: Document, tracking_number: str) -> dict[str, object]:
    shipment = {**base["shipments"][0], "tracking_number": tracking_number}
    return {
        "shipments": [shipment],
        "shipment": {**base["shipment"], "tracking_number": tracking_number},
    }


class RelevanceContract(ReadModelContract):
    """Ranking by relevance: exact keys first, then the customer's fields, then products;
    among equals the newest; scores that depend on the document and the query only."""

    @pytest.fixture
    def ranked(
        self, index: OrderSearchIndex, loaded: dict[str, Document], settle: Settle, prefix: str
    ) -> dict[str, Document]:
        shipped = next(d for d in loaded.values() if d["shipments"])
        mug = next(d for d in loaded.values() if d["skus"] == ["MUG-EN"])
        teapot = next(d for d in loaded.values() if d["skus"] == ["POT-CI"])
        older, newer = "2024-01-01T08:00:00.000000Z", "2026-01-01T08:00:00.000000Z"
        earl = {"id": "c-earl", "name": "Earl Grey", "email": "earl@leaves.example"}
        documents = {
            # Each target has a newer decoy its words find too: only relevance puts it first.
            f"{prefix}t-4711": variant(mug, f"{prefix}t-4711", older),
            f"{prefix}t-47110": variant(mug, f"{prefix}t-47110", newer),
            f"{prefix}track": variant(
                shipped, f"{prefix}track", older, **shipped_with(shipped, "ZX 900 12")
            ),
            f"{prefix}track-decoy": variant(
                shipped, f"{prefix}track-decoy", newer, **shipped_with(shipped, "ZX-900-123")
            ),
            f"{prefix}post": variant(
                mug, f"{prefix}post", older, shipping_address={"postal_code": "4711 ZZ"}
            ),
            f"{prefix}post-decoy": variant(
                mug, f"{prefix}post-decoy", newer, shipping_address={"postal_code": "4711 ZZA"}
            ),
            # A customer named like a product: an older order, yet before the tea orders.
            f"{prefix}earl": variant(teapot, f"{prefix}earl", older, customer=earl),
        }
        index.write(Changes(documents=documents, checkpoint=1190))
        settle()
        return {**loaded, **documents}

    def relevant(self, index: OrderSearchIndex, text: str, **query: object) -> SearchPage:
        return index.search(SearchQuery(text=text, sort="relevance", limit=100, **query))  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("text", "target", "score"),
        [
            ("{prefix}t-4711", "t-4711", 100),
            ("ZX 900 12", "track", 100),
            ("zx-900-12", "track", 100),
            ("4711 zz", "post", 50),
        ],
    )
    def test_a_whole_order_id_tracking_number_or_postcode_comes_first(
        self,
        index: OrderSearchIndex,
        ranked: dict[str, Document],
        prefix: str,
        text: str,
        target: str,
        score: int,
    ) -> None:
        page = self.relevant(index, text.format(prefix=prefix))
        found = [hit["order_id"] for hit in page.hits]

        assert found[0] == f"{prefix}{target}"
        assert len(found) >= 2, "the newer decoy is found too, after it"
        assert page.scores[0] == score
        assert page.scores[1] < score

    def test_a_customer_named_like_a_product_comes_before_the_product(
        self, index: OrderSearchIndex, ranked: dict[str, Document], prefix: str
    ) -> None:
        page = self.relevant(index, "earl grey")
        found = [hit["order_id"] for hit in page.hits]
        tea = [d for d in ranked.values() if "TEA-EG" in d["skus"]]
        newest_tea_first = sorted(tea, key=lambda d: (d["placed_at"], d["order_id"]), reverse=True)

        assert found == [f"{prefix}earl", *(d["order_id"] for d in newest_tea_first)]
        assert page.scores == [20, *([10] * len(tea))]

    def test_equal_scores_are_newest_first_and_every_score_is_fixed_by_its_document(
        self, index: OrderSearchIndex, ranked: dict[str, Document]
    ) -> None:
        page = self.relevant(index, "e")
        keys = [
            (score, hit["placed_at"], hit["order_id"])
            for score, hit in zip(page.scores, page.hits, strict=True)
        ]

        assert keys == sorted(keys, reverse=True)
        assert {score for score, _, _ in keys} == {10, 20}
        assert self.relevant(index, "e").scores == page.scores

    @pytest.mark.parametrize("text", ["e", "earl grey", "ada", "tea"])
    @pytest.mark.parametrize("limit", [1, 3])
    def test_relevance_pages_cover_everything_once(
        self, index: OrderSearchIndex, ranked: dict[str, Document], text: str, limit: int
    ) -> None:
        """In pages of one too (SQLite then walks the dates for the best score's many)."""
        whole = self.relevant(index, text)
        query = SearchQuery(text=text, sort="relevance", limit=limit)
        seen: list[str] = []
        scores: list[float] = []
        while True:
            page = index.search(query)
            assert page.total == whole.total
            seen += [hit["order_id"] for hit in page.hits]
            scores += page.scores
            if len(page.hits) < query.limit:
                break
            last = page.hits[-1]
            query = replace(query, after=((page.scores[-1], last["placed_at"]), last["order_id"]))

        assert seen == [hit["order_id"] for hit in whole.hits]
        assert scores == whole.scores
        assert len(seen) == len(set(seen)) > 3

    def test_relevance_without_words_is_newest_first(
        self, index: OrderSearchIndex, ranked: dict[str, Document]
    ) -> None:
        page = index.search(SearchQuery(sort="relevance", customer_id="c-ada", limit=100))
        expected = sorted(
            (d for d in ranked.values() if d["customer"]["id"] == "c-ada"),
            key=lambda d: (d["placed_at"], d["order_id"]),
            reverse=True,
        )

        assert [hit["order_id"] for hit in page.hits] == [d["order_id"] for d in expected]
        assert set(page.scores) == {0}

    @pytest.mark.parametrize("limit", [1, 2])
    def test_relevance_without_words_pages_cover_every_match_once(
        self, index: OrderSearchIndex, ranked: dict[str, Document], limit: int
    ) -> None:
        """An e-mail typed in the search box: its orders newest first, page after page."""
        query = SearchQuery(sort="relevance", email="ada@analytical.org", limit=limit)
        seen: list[str] = []
        while True:
            page = index.search(query)
            seen += [hit["order_id"] for hit in page.hits]
            if len(page.hits) < limit:
                break
            last = page.hits[-1]
            query = replace(query, after=((page.scores[-1], last["placed_at"]), last["order_id"]))
        expected = sorted(
            (d for d in ranked.values() if d["customer"]["email"] == "ada@analytical.org"),
            key=lambda d: (d["placed_at"], d["order_id"]),
            reverse=True,
        )

        assert seen == [d["order_id"] for d in expected]
        assert len(seen) > 2
