"""A regular Python package installed through zato_extra_paths (not hot-deployable: it is a package)."""
