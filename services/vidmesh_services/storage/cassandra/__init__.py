"""Cassandra backends: one shared connection per process (session.py), the schema and its
migrations (schema.py, migrations/), and a store per port (videos.py, api_keys.py)."""
