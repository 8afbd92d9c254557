"""Writes of the matching engine, one module per stage.

* :mod:`matching.services.encoding`: encoder rows and the process-wide model cache; plan and
  encode chunks of offers into the embedding store.
* :mod:`matching.services.features`: ORM rows -> feature arrays (embedding blocks, numeric
  features, assembly, projection).
* :mod:`matching.services.training`: train a projection head and store it (ProjectionModel).
* :mod:`matching.services.matching`: match two shops and store the run (MatchRun, Candidates,
  metrics, plot); the stale-run check.

They call the plain library :mod:`matching.ml` and store what it returns. Commands and RQ jobs
are thin wrappers around them.
"""
