"""Recommendations: ALS home feeds, related videos and trending (docs/recommendations.md)."""
