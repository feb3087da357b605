"""Analysis of stored activity: complete per-bucket series, onsets and coin-mix shifts."""
