"""Reads of the human side, one module per page or reason:

* ``routing``: current routing, routing preview (thresholds, bands, predicted P_hitl), progress;
* ``review``: what a validator sees (review page, counters, undo, feedback), slot order;
* ``quality``: the quality report of a run (statistics in the pure validation/quality.py);
* ``runs``: the runs overview and the accepted matches of a run (export rows).
* ``gold_floor``: validators' gold accuracy and the decided rows that may train a model.

Selectors never import services or jobs; match runs, candidates and offers are read through
matching.selectors.
"""
