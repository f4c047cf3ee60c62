"""HTTP adapters shared by the command API, the search API and embedded mode."""
