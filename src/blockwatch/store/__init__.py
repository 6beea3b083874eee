"""Storage: DuckDB file, idempotent ingest, queries, export."""
