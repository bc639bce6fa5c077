"""The case store: loans, scores, actions, outcomes, API keys and an audit log in SQL.

SQLite by default, PostgreSQL by URL; the schema changes only through the packaged
Alembic migrations. Every write function takes the session (or connection) as its first
argument and an ``actor`` keyword, writes its audit row in the same transaction, and
leaves committing to the caller: the CLI, a job, or an API request.
"""
