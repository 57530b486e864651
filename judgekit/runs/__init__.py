"""Orchestration: running judges over planned requests, and what a run reports."""
