"""The reliability battery: chainwatch driven through its command line as separate processes
(concurrent writers, interruptions, hostile inputs), on SQLite and PostgreSQL."""
