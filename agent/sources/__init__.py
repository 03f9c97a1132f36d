"""The knowledge bus: read sources from bus listings, JSON Lines, feeds, folders and URLs,
clean them, deduplicate them, and keep them per topic (see `ingest`, `importer`, `pull`)."""
