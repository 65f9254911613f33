"""Storage: the write engine (group commit, bulk inserts and upserts, partitions) and the
stamped cache that every host shares. Collection, rollups and retention write through it."""
