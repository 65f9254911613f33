"""Fault tests: the service under a stopped, frozen or full database, served as in production."""
