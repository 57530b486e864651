"""Planning: which comparisons to make, before any judge is called.

- :mod:`judgekit.plan.schedules`: fixed schedules (all pairs, vs a baseline, sampled pairs);
- :mod:`judgekit.plan.adaptive`: the adaptive schedule's choice of the next pairs;
- :mod:`judgekit.plan.arena`: arena definitions and K-wise matchmaking.

This layer may import :mod:`judgekit.inputs` and :mod:`judgekit.rank`, nothing above them.
"""

from judgekit.plan.schedules import Comparison, Schedule, parse_schedule, plan_comparisons

__all__ = ["Comparison", "Schedule", "parse_schedule", "plan_comparisons"]
