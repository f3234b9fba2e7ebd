"""Shared helpers: paths, atomic writes, checksums, JSON and .npy, Parquet tables, logging, config, lazy exports."""
