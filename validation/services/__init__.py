"""Writes of the human side, one module per reason to change:

* ``routing``: apply thresholds to a run (decided by the pure validation.routing_plan.plan_routing);
* ``leasing``: which row a validator gets next, prefetching, the checks on a lease (locking rules);
* ``review``: judgements, undo, feedback, skip, and a row's recomputed decision;
* ``conflicts``: product conflicts as review rows, and their decisions fed back to matching;
* ``withdrawals``: run decisions whose automatic match validators overruled are withdrawn;
* ``export``: write the accepted matches of a run as CSV, inline or as a job.

Services read through selectors (validation.selectors, matching.selectors); none imports
validation.jobs (jobs are enqueued by dotted path through core.queues).
"""
