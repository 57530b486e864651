"""Runs: orchestration of judging, with the store as cache and journal.

Each module here turns inputs and a plan into judge requests, executes them through
:mod:`judgekit.runs.runner` (cached by request hash, failures kept as rows), stores verdicts
and outcomes, and ranks the result: pairwise :mod:`~judgekit.runs.compare`, judge panels
:mod:`~judgekit.runs.panel`, listwise :mod:`~judgekit.runs.listwise`, K-wise
:mod:`~judgekit.runs.arena`, the adaptive and sorting schedules, rubric grading
:mod:`~judgekit.runs.grade`, checklists :mod:`~judgekit.runs.checklist`, Best-of-N
:mod:`~judgekit.runs.stick`, the constitution pipeline :mod:`~judgekit.runs.icai` and the
judge probes :mod:`~judgekit.runs.probes`.
"""
