"""Prompt files, one per LLM task, loaded by agent.prompting."""
