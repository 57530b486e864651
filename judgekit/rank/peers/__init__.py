"""Peers' leaderboards computed as the peers compute them, from already-parsed judgments.

- :mod:`.alpaca_eval`: AlpacaEval 2's head-to-head columns and its length-controlled win
  rate (per-model GLM with instruction difficulty and the gamed-baseline regulariser);
- :mod:`.arena_hard`: arena-hard-auto's ``show_result.py`` (Bradley-Terry against the
  baseline, bootstrap percentiles, optional style control);
- :mod:`.mtbench`: FastChat's MT-Bench ``show_result.py`` (single grades and pairwise
  win rates).

Pure numpy/scipy/pandas: file reading lives in :mod:`judgekit.inputs.formats`.
"""
