"""Pretraining: the one training loop under torchrun, optimiser, schedules, resume state, metrics, initial weights."""
