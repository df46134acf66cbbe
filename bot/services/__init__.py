"""Domain services: the rules (who may do what, the request lifecycle, scheduled resumes)."""
