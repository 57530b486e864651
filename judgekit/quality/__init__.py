"""Judge quality: how far a judge's verdicts can be trusted.

- :mod:`judgekit.quality.agreement`: the metrics (accuracy, κ, α, flip rate, position and
  length preference, self-preference, length-controlled win rates);
- :mod:`judgekit.quality.trust` and :mod:`judgekit.quality.trust_stats`: the trust report
  every judged result carries (flip rate, position preference, separation, label figures
  and their warnings), pure functions of the run's own verdicts;
- :mod:`judgekit.quality.report`: the judge-quality report of a stored run (``judgekit meta``).

This layer may import the store and everything beneath it, never the runs that call it.
"""
