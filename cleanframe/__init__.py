"""cleanframe."""
