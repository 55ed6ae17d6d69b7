"""PostgreSQL: the connection pool, migrations, named queries and the repository functions."""
