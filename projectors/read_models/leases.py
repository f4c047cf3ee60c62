"""The lease store beside a read model: the same SQLite file, or the same Elasticsearch cluster
and index prefix (a projection's lease lives in the store its projector writes)."""

from __future__ import annotations

from projectors.lease import LeaseStore


def leases_beside(read_model: object) -> LeaseStore | None:
    """For a projection's generations, one of them, or the generation being followed; None
    for anything else (a test's own fake)."""
    from projectors.read_models.generations import ActiveStore
    from projectors.read_models.sqlite_documents import SQLiteDocuments
    from projectors.read_models.sqlite_generations import SQLiteGenerations
    from projectors.read_models.sqlite_index import SQLiteOrderIndex
    from projectors.read_models.sqlite_lease import SQLiteLeases

    if isinstance(read_model, ActiveStore):
        return leases_beside(read_model.read_model)
    if isinstance(read_model, SQLiteGenerations | SQLiteOrderIndex | SQLiteDocuments):
        return SQLiteLeases(read_model.path)
    try:
        from projectors.read_models.elasticsearch_documents import ElasticsearchDocuments
        from projectors.read_models.elasticsearch_generations import ElasticsearchGenerations
        from projectors.read_models.elasticsearch_index import ElasticsearchOrderIndex
        from projectors.read_models.elasticsearch_lease import ElasticsearchLeases
    except ImportError:  # pragma: no cover - the client is a dependency
        return None
    if isinstance(read_model, ElasticsearchGenerations | ElasticsearchDocuments):
        prefix = read_model.prefix
    elif isinstance(read_model, ElasticsearchOrderIndex):
        prefix = read_model.alias.removesuffix(f"-{read_model.name}")
    else:
        return None
    return ElasticsearchLeases(read_model.client, prefix=prefix, replicas=read_model.replicas)
