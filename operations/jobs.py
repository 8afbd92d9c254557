"""RQ entry point of the job chains (thin: chain.run_stage does the work). Stages enqueue each
other by this dotted path (operations.chain.STAGE_JOB), so chain.py does not import this."""

from __future__ import annotations

from operations import chain


def run_stage(*, job_id: int, stage: str) -> None:
    chain.run_stage(job_id=job_id, stage=stage)
