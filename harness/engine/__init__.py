"""The engine: steps as data, journal, lease lock, runner (execute, gate, skip, roll back, resume)."""
