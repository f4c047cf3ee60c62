"""The lease store beside a read model: the same SQLite file, or the same Elasticsearch cluster
and index prefix (a projection's lease lives in the store its projector writes)."""

from __future__ import annotations

from projectors.lease import LeaseStore


def leases_beside(read_model: object) -> LeaseStore | None:
    """For a read model, one of its generations, or the index following the active one;
    None for anything else (a test's own fake)."""
    from projectors.read_models.generations import ActiveIndex
    from projectors.read_models.sqlite_documents import SQLiteDocuments
    from projectors.read_models.sqlite_index import SQLiteOrderIndex
    from projectors.read_models.sqlite_lease import SQLiteLeases
    from projectors.read_models.sqlite_read_model import SQLiteReadModel

    if isinstance(read_model, ActiveIndex):
        return leases_beside(read_model.read_model)
    if isinstance(read_model, SQLiteReadModel | SQLiteOrderIndex | SQLiteDocuments):
        return SQLiteLeases(read_model.path)
    try:
        from projectors.read_models.elasticsearch_documents import ElasticsearchDocuments
        from projectors.read_models.elasticsearch_index import ElasticsearchOrderIndex
        from projectors.read_models.elasticsearch_lease import ElasticsearchLeases
        from projectors.read_models.elasticsearch_read_model import ElasticsearchReadModel
    except ImportError:  # pragma: no cover - the client is a dependency
        return None
    if isinstance(read_model, ElasticsearchReadModel):
        return ElasticsearchLeases(
            read_model.client, prefix=read_model.prefix, replicas=read_model.replicas
        )
    if isinstance(read_model, ElasticsearchDocuments):
        prefix = read_model.base.removesuffix(f"-{read_model.name}")
        return ElasticsearchLeases(read_model.client, prefix=prefix, replicas=read_model.replicas)
    if isinstance(read_model, ElasticsearchOrderIndex):
        prefix = read_model.alias.removesuffix(f"-{read_model.name}")
        return ElasticsearchLeases(read_model.client, prefix=prefix, replicas=read_model.replicas)
    return None
