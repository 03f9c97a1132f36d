"""LangGraph workflows of absorb: refresh, the per-section subgraph, rewrite."""
