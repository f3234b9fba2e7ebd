"""masks package."""
