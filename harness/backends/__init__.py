"""Stand-in backends: the Docker engine helpers and testcontainers-based containers."""
