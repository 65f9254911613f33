"""Analytics events (built by the collection pipeline)."""
