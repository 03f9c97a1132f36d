"""absorb: keeps long-lived topic articles true to their sources."""
