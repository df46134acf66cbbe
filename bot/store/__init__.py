"""Storage: the only package that speaks SQL. One SQLite file holds the allow-list, requests and audit."""
