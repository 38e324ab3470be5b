"""Analytics: player events in, per-video counters and a Parquet warehouse out (docs/analytics.md)."""
