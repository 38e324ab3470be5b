"""Search: full-text search over the catalog's videos (docs/search.md)."""
