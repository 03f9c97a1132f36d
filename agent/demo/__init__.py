"""The demo: the seed page bundled as package data, and the walk-through `absorb demo` runs."""
