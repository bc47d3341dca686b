"""Plots of training runs."""
