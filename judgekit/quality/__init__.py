"""Judge-quality statistics: pure functions over a run's verdicts, labels and scores."""
