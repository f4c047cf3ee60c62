"""The embedded read model's generations: tables per generation in one SQLite file.

Generation ``gN`` is the set of tables ``order_search_gN*``; the row in
``order_search_active`` is the pointer searches follow (see ``sqlite_generations``).
"""

from __future__ import annotations

import re
from pathlib import Path

from projectors.port import OrderSearchIndex
from projectors.read_models.sqlite_generations import SQLiteGenerations
from projectors.read_models.sqlite_index import SQLiteOrderIndex

TABLE = "order_search"
GENERATION_TABLE = re.compile(rf"^{TABLE}_(g\d+)$")


class SQLiteReadModel(SQLiteGenerations[OrderSearchIndex]):
    def __init__(self, path: Path, *, schema_version: int | None = None) -> None:
        super().__init__(path, TABLE, schema_version=schema_version)

    def _names(self) -> list[str]:
        return [m.group(1) for name in self._table_names() if (m := GENERATION_TABLE.match(name))]

    def _open(self, generation: str, *, bulk: bool) -> OrderSearchIndex:
        return SQLiteOrderIndex(self.path, name=TABLE, generation=generation)

    def _destroy(self, generation: str) -> None:
        index = SQLiteOrderIndex(self.path, name=TABLE, generation=generation)
        try:
            index.destroy()
        finally:
            index.close()
