"""The engine's write-ahead journal (SQLAlchemy; SQLite WAL or PostgreSQL) and its backups."""
