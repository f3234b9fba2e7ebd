"""Evaluation of trained runs: embeddings, linear and kNN readouts, VoE surprise, seed statistics, the summary."""
