"""Evaluation, one module per family; `evaluate.evaluate_run` ties them to a run folder.

Metrics never import training code: they work on any run folder through `isogen.runs`.
"""
