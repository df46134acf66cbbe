"""Storage: the only package that speaks SQL. Opens the configured database and holds one repository per table."""
