"""Writes of the human side, one module per reason to change:

* ``routing``: apply thresholds to a run (decided by the pure validation.routing_plan.plan_routing);
* ``review``: leases, judgements, undo, skip, and a row's recomputed decision (locking rules there);
* ``export``: write the accepted matches of a run as CSV, inline or as a job.

Services read through selectors (validation.selectors, matching.selectors); none imports
validation.jobs (jobs are enqueued by dotted path through core.queues).
"""
