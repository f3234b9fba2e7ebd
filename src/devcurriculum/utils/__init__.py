"""Shared helpers: atomic I/O, Parquet tables, logging, config hashing, distributed set-up."""
