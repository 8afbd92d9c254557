"""Writes of the human side, one module per reason to change:

* ``routing``: apply thresholds to a run (decided by the pure validation.routing_plan.plan_routing);
* ``leasing``: which row a validator gets next, prefetching, and the checks on a lease (locking rules there);
* ``review``: judgements, undo, feedback, skip, and a row's recomputed decision;
* ``export``: write the accepted matches of a run as CSV, inline or as a job.

Services read through selectors (validation.selectors, matching.selectors); none imports
validation.jobs (jobs are enqueued by dotted path through core.queues).
"""
