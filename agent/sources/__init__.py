"""The knowledge bus: read, clean, deduplicate and keep sources per topic (see ingest, importer, pull)."""
