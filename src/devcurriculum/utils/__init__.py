"""Shared helpers: paths, atomic writes, checksums, JSON / .npy files, Parquet tables, logging, config hashing, distributed set-up."""
