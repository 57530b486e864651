"""Inverse constitutions: compress pairwise preferences into principles, usable as a rubric.

- :func:`constitution`: the whole pipeline (propose, cluster, vote, select, reconstruct),
  every stage stored in DuckDB; returns a :class:`ConstitutionResult`.
- :func:`load_preferences`: preference files in the ICAI, Chatbot Arena, MT-Bench,
  AlpacaEval or plain ``text_a``/``text_b``/``preferred`` shapes.
- :func:`synthetic_preferences` and :func:`literal_judge`: data with planted rules and a
  scripted judge that applies principles literally, for tests and demos.

Based on Findeis et al., *Inverse Constitutional AI: Compressing Preferences into
Principles* (2024).
"""

from judgekit.runs.icai.api import ConstitutionResult, constitution
from judgekit.runs.icai.data import Preference, PreferenceSet, load_preferences
from judgekit.runs.icai.options import ConstitutionOptions
from judgekit.runs.icai.synthetic import literal_judge, synthetic_preferences

__all__ = [
    "ConstitutionOptions",
    "ConstitutionResult",
    "Preference",
    "PreferenceSet",
    "constitution",
    "literal_judge",
    "load_preferences",
    "synthetic_preferences",
]
