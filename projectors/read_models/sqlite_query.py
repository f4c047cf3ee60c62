"""A search as SQL on the embedded read model, shaped so each search walks an index that
matches its filters and its sort, and counts its matches without reading their documents.

- Status filters come with their sort: ``(status, sort field, order_id)`` indexes give a
  status's page straight from the index, ranges of the other field checked in it; several
  statuses are one index walk each, merged (SQLite cannot merge the ranges of an ``IN`` in
  sort order, so it sorted every match of all of them).
- Free text is FTS5's, and so are the statuses that come with it (each text row holds its
  order's status as a word): their matches are counted in the text index alone when nothing
  else filters them.
- Sorted by a field, the count (made first, for ``total``) chooses the plan: few matches are
  found by their narrowest index and sorted; many are found by walking the sort's index,
  checking each row (text and the other field's range are kept from the planner's index
  choice with a unary ``+``), which stops after a page: about ``orders / matches x limit``
  rows. Walking wins once ``matches^2 >= orders x limit``.

Free text is turned into an FTS5 query by us: the input is split into words and each word is
quoted, so no input can change the query's structure (no operators, columns or NEAR).
Relevance is the sum of the weights ``text`` gives what a row matches: an exact key in
``_keys``, every word in a column of ``_fields``; it depends on the row and the query only,
so a cursor cut at a score stays valid.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any

import orjson

from projectors.order_search import Document
from projectors.port import SearchQuery
from projectors.read_models.text import (
    CUSTOMER_WEIGHT,
    EXACT_WEIGHTS,
    PRODUCTS_WEIGHT,
    key,
    words,
)

CURRENCY = "json_extract(CAST({row} AS TEXT), '$.currency')"
"""The document's currency as SQL (of a row's ``doc`` column), as its index has it."""
TEXT_TABLES = {
    "text": "body, status, tokenize = 'unicode61'",
    "fields": "customer, products, status, tokenize = 'unicode61'",
}
"""The FTS5 tables' columns. ``text`` has every word of an order, ``fields`` its customer's
and its products' (for relevance); each has the order's status as one word, so words and
statuses are matched together in the text index (counting "lovelace" among the delivered
read each match's row before: 180 ms at 1,000,000 orders, 8 ms now). Positions are kept: a
word of ours the tokenizer splits (``sku_1``, some scripts' vowel signs) is a phrase, which
FTS5 refuses without them."""
STATUS_WORD = "replace(coalesce({status}, ''), '_', '')"
"""A status as one word of the text row (the tokenizer splits at ``_``), as SQL."""


def status_word(status: str) -> str:
    """``STATUS_WORD`` in Python, for a query."""
    return status.replace("_", "")


def indexes(table: str) -> str:
    """An index for each sort, alone and after a status, each with the range fields after the
    order id so a range of the field not sorted on is checked in the index (counts never
    leave it); a customer's and an e-mail's orders newest first (a busy customer's page is
    not a sort of all their orders). Those they replace (their prefixes) are dropped."""
    made = "".join(
        f"CREATE INDEX IF NOT EXISTS {table}_{prefix}{field} ON {table}"
        f" ({status}{field}, order_id{''.join(f', {other}' for other in extra)});"
        for prefix, status in (("by_", ""), ("status_", "status, "))
        for field, extra in (
            ("placed_at", ("total",)),
            ("updated_at", ("placed_at", "total")),
            ("total", ("placed_at",)),
        )
    )
    made += "".join(
        f"CREATE INDEX IF NOT EXISTS {table}_{name}_placed_at ON {table}"
        f" ({column}, placed_at, order_id);"
        for name, column in (("customer", "customer_id"), ("email", "email"))
    )
    # The currency has no column (no schema change): an index of the document's own field,
    # the expression exactly as ``filters`` writes it, so its count never reads a document.
    made += (
        f"CREATE INDEX IF NOT EXISTS {table}_currency_total ON {table}"
        f" ({CURRENCY.format(row='doc')}, total, order_id, placed_at);"
    )
    # (status, placed_at); (field, order_id); (customer_id); (email)
    replaced = ("status", "placed", "updated", "total", "customer", "email")
    return made + "".join(f"DROP INDEX IF EXISTS {table}_{name};" for name in replaced)


def match_expression(text: str, column: str | None = None) -> str | None:
    """An FTS5 expression: every word must match, the last one as a prefix (typing); in one
    column when given (a name of ours, never the input's)."""
    found = words(text)
    if not found:
        return None
    quoted = [f'"{word}"' for word in found]
    quoted[-1] += " *"
    expression = " AND ".join(quoted)
    return f"{column} : ({expression})" if column else expression


def with_statuses(expression: str, statuses: tuple[str, ...]) -> str:
    """``expression`` (of a text table's words) in rows of one of ``statuses``, if any."""
    if not statuses:
        return expression
    wanted = " OR ".join('"' + status_word(status).replace('"', '""') + '"' for status in statuses)
    return f"{expression} AND status : ({wanted})"


class SQLiteSearch:
    """One search on one generation's tables."""

    def __init__(self, connection: sqlite3.Connection, table: str, query: SearchQuery) -> None:
        self.connection = connection
        self.table = table
        self.query = query
        body = match_expression(query.text, "body") if query.text else None
        self.text = with_statuses(body, query.statuses) if body is not None else None
        """The text table's expression (the statuses are in it too)."""
        self._text_decides = self.text is not None and self._only_text(but_statuses=True)
        """The text table alone finds the matches."""
        self._best: tuple[float, int] | None = None
        """Free text alone by relevance: the best score and how many have it."""
        self._one_score = False
        """... and every match has it (then a match need not be scored again)."""

    def total(self) -> int:
        if self._text_decides and self.query.sort == "relevance":
            # The scores' counts: the total, and whether the best is shared by many.
            scores = self._scores()
            self._best = scores[0] if scores else None
            self._one_score = len(scores) == 1
            return sum(count for _, count in scores)
        if not self.query.text and self._only_text():
            # Without a WHERE clause SQLite counts an index's cells page by page (1,000,000
            # orders: under a millisecond, against 10 ms a row at a time).
            return int(self.connection.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])
        if self._text_decides:
            t = self.table
            # Every document has its text row (same rowid, written together): FTS5 counts its
            # matches from its index, without a lookup of each match's row.
            sql, parameters = f"SELECT count(*) FROM {t}_text WHERE {t}_text MATCH ?", [self.text]
        else:
            where, parameters = self.filters()
            sql = f"SELECT count(*) FROM {self.table} o WHERE {where}"
        return int(self.connection.execute(sql, parameters).fetchone()[0])

    def by_field(self, total: int) -> list[Document]:
        query = self.query
        if total == 0:
            return []
        walk = self._walks(total)
        if len(query.statuses) > 1 and self.text is None:
            return self._documents(self._merged_statuses(walk))
        where, parameters = self.filters(walk=walk)
        keyset, keyset_parameters = self._keyset()
        rows = self.connection.execute(
            f"SELECT doc FROM {self.table} o WHERE {where}{keyset}{self._order()} LIMIT ?",
            [*parameters, *keyset_parameters, query.limit],
        )
        return [orjson.loads(row[0]) for row in rows]

    def _walks(self, total: int) -> bool:
        """Whether walking the sort's index reads fewer rows than sorting every match."""
        # Documents are never deleted, so the last row id is about the number of orders.
        rows = self.connection.execute(f"SELECT max(rowid) FROM {self.table}").fetchone()[0]
        return total * total >= (rows or 0) * self.query.limit

    def _merged_statuses(self, walk: bool) -> list[int]:
        """Row ids of the page: each status's own page from its index, merged."""
        query, field = self.query, self.query.sort
        keyset, keyset_parameters = self._keyset()
        arms, parameters = [], []
        for status in query.statuses:
            where, arm_parameters = self.filters(statuses=(status,), walk=walk)
            arms.append(
                f"SELECT * FROM (SELECT o.rowid AS id, o.{field} AS {field}, o.order_id AS"
                f" order_id FROM {self.table} o WHERE {where}{keyset}{self._order()} LIMIT ?)"
            )
            parameters += [*arm_parameters, *keyset_parameters, query.limit]
        direction = "DESC" if query.descending else "ASC"
        rows = self.connection.execute(
            f"SELECT id FROM ({' UNION ALL '.join(arms)})"
            f" ORDER BY {field} {direction}, order_id {direction} LIMIT ?",
            [*parameters, query.limit],
        )
        return [row[0] for row in rows]

    def _keyset(self) -> tuple[str, list[Any]]:
        query = self.query
        if query.after is None:
            return "", []
        comparison = "<" if query.descending else ">"
        return f" AND (o.{query.sort}, o.order_id) {comparison} (?, ?)", list(query.after)

    def _order(self) -> str:
        direction = "DESC" if self.query.descending else "ASC"
        return f" ORDER BY o.{self.query.sort} {direction}, o.order_id {direction}"

    def by_relevance(self) -> tuple[list[Document], list[float]]:
        """Best first; among equals, the newest (as Elasticsearch sorts them)."""
        query = self.query
        ranked: list[tuple[int, float, str, str]] = []
        after = query.after
        if self._best is not None:
            ranked = self._best_newest_first(*self._best)
            if ranked:
                _, score, placed_at, order_id = ranked[-1]
                after = ((score, placed_at), order_id)
        if len(ranked) < query.limit:
            ranked += self._ranked(after, query.limit - len(ranked))
        return self._documents([row[0] for row in ranked]), [float(row[1]) for row in ranked]

    def _ranked(
        self, after: tuple[Any, str] | None, limit: int
    ) -> list[tuple[int, float, str, str]]:
        """Every match scored, then sorted (without the documents: their bytes need not be
        carried through the sort). Without words every match scores 0: newest first, which
        an index of the filters (an e-mail's) gives in order, without a sort."""
        where, parameters = self.filters()
        score, score_parameters = self._score()
        keyset, keyset_parameters = "", []
        order = "score DESC, placed_at DESC, order_id DESC"
        if score == "0":
            order = "placed_at DESC, order_id DESC"
        if after is not None:
            (after_score, after_placed), after_id = after
            keyset = " WHERE (score, placed_at, order_id) < (?, ?, ?)"
            keyset_parameters = [after_score, after_placed, after_id]
            if score == "0" and after_score == 0:
                keyset = " WHERE (placed_at, order_id) < (?, ?)"  # a range of that index
                keyset_parameters = [after_placed, after_id]
        rows = self.connection.execute(
            f"SELECT id, score, placed_at, order_id FROM (SELECT o.rowid AS id, o.placed_at,"
            f" o.order_id, {score} AS score FROM {self.table} o WHERE {where}){keyset}"
            f" ORDER BY {order} LIMIT ?",
            [*score_parameters, *parameters, *keyset_parameters, limit],
        )
        return list(rows)

    def _scores(self) -> list[tuple[float, int]]:
        """Free text alone (or with statuses): each score its matches have, best first, with
        their number. Counted as sets in the text indexes (the matches, those whose customer's
        fields have the words, the products', both), not by scoring every match: that took
        26-36 ms for 13,000-21,000 matches at 1,000,000 orders. Only the orders an exact key
        names (few) are scored one by one."""
        t = self.table
        customer, products = self._words_in("customer"), self._words_in("products")

        def fields(expression: str) -> int:
            return int(
                self.connection.execute(
                    f"SELECT count(*) FROM {t}_fields WHERE {t}_fields MATCH ?",
                    [with_statuses(expression, self.query.statuses)],
                ).fetchone()[0]
            )

        matches = int(
            self.connection.execute(
                f"SELECT count(*) FROM {t}_text WHERE {t}_text MATCH ?", [self.text]
            ).fetchone()[0]
        )
        # The words in a column are words of the whole text too, so each set is in the matches.
        both, names, items = (
            fields(f"{customer} AND {products}"),
            fields(customer),
            fields(products),
        )
        counts: Counter[float] = Counter(
            {
                CUSTOMER_WEIGHT + PRODUCTS_WEIGHT: both,
                CUSTOMER_WEIGHT: names - both,
                PRODUCTS_WEIGHT: items - both,
                0: matches - names - items + both,
            }
        )
        for exact, score in self._exactly_named():
            counts[score - exact] -= 1
            counts[score] += 1
        return sorted(((score, n) for score, n in counts.items() if n > 0), reverse=True)

    def _exactly_named(self) -> list[tuple[int, float]]:
        """Matches an exact key names: each one's weight of exact keys, and its whole score."""
        t, whole = self.table, key(self.query.text)
        named: Counter[int] = Counter()
        rows = self.connection.execute(
            f"SELECT o.rowid, k.key FROM {t}_keys k JOIN {t} o ON o.order_id = k.order_id"
            f" WHERE k.key IN ({','.join('?' * len(EXACT_WEIGHTS))})",
            [f"{kind}:{whole}" for kind in EXACT_WEIGHTS],
        )
        for rowid, found in rows:
            named[rowid] += EXACT_WEIGHTS[found.split(":", 1)[0]]
        if not named:
            return []
        score, score_parameters = self._score(row="id")
        scored = self.connection.execute(
            f"SELECT id, {score} FROM (SELECT rowid AS id FROM {t}_text WHERE {t}_text MATCH ?)"
            f" WHERE +id IN ({','.join('?' * len(named))})",
            [*score_parameters, self.text, *named],
        )
        return [(named[rowid], score) for rowid, score in scored]

    def _best_newest_first(self, best: float, count: int) -> list[tuple[int, float, str, str]]:
        """Free text alone whose best score many matches share (every "lovelace" is a
        customer's word): those, newest first, walking the date index and scoring each row
        in it, as a field sort walks (see ``_walks``). Empty when that does not apply: the
        rest of a page, and pages of lower scores, are ``_ranked``'s."""
        t, query = self.table, self.query
        if not self._walks(count):
            return []
        score, score_parameters = self._score()
        if self._one_score:
            score, score_parameters = str(best), []
        keyset, keyset_parameters = "", []
        if query.after is not None:
            (after_score, after_placed), after_id = query.after
            if after_score != best:
                return []
            keyset = " AND (o.placed_at, o.order_id) < (?, ?)"
            keyset_parameters = [after_placed, after_id]
        rows = self.connection.execute(
            f"SELECT o.rowid, {best}, o.placed_at, o.order_id FROM {t} o"
            f" WHERE +o.rowid IN (SELECT rowid FROM {t}_text WHERE {t}_text MATCH ?)"
            f" AND ({score}) = ?{keyset} ORDER BY o.placed_at DESC, o.order_id DESC LIMIT ?",
            [self.text, *score_parameters, best, *keyset_parameters, query.limit],
        )
        return list(rows)

    def _documents(self, row_ids: list[int]) -> list[Document]:
        if not row_ids:
            return []
        docs = dict(
            self.connection.execute(
                f"SELECT rowid, doc FROM {self.table} WHERE rowid IN"
                f" ({','.join('?' * len(row_ids))})",
                row_ids,
            )
        )
        return [orjson.loads(docs[row_id]) for row_id in row_ids]

    def _score(self, row: str = "o.rowid") -> tuple[str, list[Any]]:
        """The score as SQL: the weight of each exact key and each column the text matches;
        of the orders table's row ``o``, or of a bare row id (``row``)."""
        t, text = self.table, self.query.text
        order_ids = f"(SELECT rowid FROM {t} WHERE order_id IN" if row != "o.rowid" else ""
        if not words(text):
            return "0", []
        terms: list[str] = []
        parameters: list[Any] = []
        whole = key(text)
        for kind, weight in EXACT_WEIGHTS.items():
            keyed = f"(SELECT order_id FROM {t}_keys WHERE key = ?)"
            test = f"{row} IN {order_ids} {keyed})" if order_ids else f"o.order_id IN {keyed}"
            terms.append(f"(CASE WHEN {test} THEN {weight} ELSE 0 END)")
            parameters.append(f"{kind}:{whole}")
        for column, weight in (("customer", CUSTOMER_WEIGHT), ("products", PRODUCTS_WEIGHT)):
            terms.append(
                f"(CASE WHEN {row} IN (SELECT rowid FROM {t}_fields WHERE {t}_fields MATCH ?)"
                f" THEN {weight} ELSE 0 END)"
            )
            # (the rows scored have one of the statuses: the column's matches need no others)
            parameters.append(with_statuses(self._words_in(column), self.query.statuses))
        return " + ".join(terms), parameters

    def _words_in(self, column: str) -> str:
        """The query's words in one column of the fields' table (only asked of words)."""
        expression = match_expression(self.query.text, column)
        if expression is None:
            raise ValueError("no words: nothing to match in a column")
        return expression

    def _only_text(self, *, but_statuses: bool = False) -> bool:
        """Nothing but free text filters (or the statuses too, ``but_statuses``)."""
        query = self.query
        return not (
            (query.statuses and not but_statuses)
            or query.financial_statuses
            or query.fulfillment_statuses
            or query.countries
            or query.currency is not None
            or query.customer_id is not None
            or query.email is not None
            or query.sku is not None
            or query.placed_from is not None
            or query.placed_to is not None
            or query.min_total is not None
            or query.max_total is not None
        )

    def _currency_indexed(self, walk: bool) -> bool:
        """Whether the currency's index may find the matches: not when another filter is
        narrower (a status, a customer, words: the currency's index would read every order
        in it), nor when another sort's index is walked (it would sort them all)."""
        query = self.query
        narrower = (
            query.statuses
            or query.customer_id is not None
            or query.email is not None
            or query.sku is not None
            or self.text is not None
        )
        return not narrower and not (walk and query.sort != "total")

    def filters(
        self, *, statuses: tuple[str, ...] | None = None, walk: bool = False
    ) -> tuple[str, list[Any]]:
        """The WHERE clause. ``walk``: the text's matches and the range of the field not
        sorted on are checked row by row (``+`` keeps the planner from choosing an index for
        them), so the sort's index is walked."""
        t, query = self.table, self.query
        statuses = query.statuses if statuses is None else statuses
        clauses: list[str] = ["1 = 1"]
        parameters: list[Any] = []
        if query.text and self.text is None:
            clauses.append("0 = 1")  # only punctuation: nothing can match
        if self.text is not None:
            row_id = "+o.rowid" if walk else "o.rowid"
            clauses.append(f"{row_id} IN (SELECT rowid FROM {t}_text WHERE {t}_text MATCH ?)")
            parameters.append(self.text)
        # With free text the statuses are in the text's matches; a walk of one status's index
        # still names it (fewer rows to check), never several (SQLite would sort them all).
        if statuses and (self.text is None or (walk and len(statuses) == 1)):
            clauses.append(f"o.status IN ({','.join('?' * len(statuses))})")
            parameters.extend(statuses)
        # Filters of the document's own fields (no column of their own: no schema change).
        for path, wanted in (
            ("$.financial_status", query.financial_statuses),
            ("$.fulfillment_status", query.fulfillment_statuses),
            ("$.shipping_address.country", query.countries),
        ):
            if wanted:
                clauses.append(
                    f"json_extract(CAST(o.doc AS TEXT), '{path}')"
                    f" IN ({','.join('?' * len(wanted))})"
                )
                parameters.extend(wanted)
        if query.currency is not None:
            unindexed = "" if self._currency_indexed(walk) else "+"
            clauses.append(f"{unindexed}{CURRENCY.format(row='o.doc')} = ?")
            parameters.append(query.currency)
        for column, value in (("customer_id", query.customer_id), ("email", query.email)):
            if value is not None:
                clauses.append(f"o.{column} = ?")
                parameters.append(value.lower() if column == "email" else value)
        if query.sku is not None:
            clauses.append(f"o.order_id IN (SELECT order_id FROM {t}_skus WHERE sku = ?)")
            parameters.append(query.sku)
        ranges: tuple[tuple[str, str, str | int | None], ...] = (
            ("placed_at", ">=", query.placed_from),
            ("placed_at", "<", query.placed_to),
            ("total", ">=", query.min_total),
            ("total", "<=", query.max_total),
        )
        for field, comparison, bound in ranges:
            if bound is not None:
                unindexed = "+" if walk and field != query.sort else ""
                clauses.append(f"{unindexed}o.{field} {comparison} ?")
                parameters.append(bound)
        return " AND ".join(clauses), parameters
