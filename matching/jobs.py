"""RQ entry points of the matching engine: thin wrappers around `matching.services`.

Queues: encoding on `gpu` (a planning job splits the work into chunk jobs so that several
workers, on several machines, share it), training and matching on `default`. Progress goes to
the job's meta (`report_progress`), visible in the RQ dashboard and the admin. Without
REDIS_URL, `enqueue` runs each job inline.
"""

from __future__ import annotations

from datetime import date

from core.queues import JobHandle, enqueue, report_progress
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.match_config import MatchConfig
from matching.ml.training import TrainConfig
from matching.models import Encoder
from matching.services import encoding, training
from matching.services import matching as matching_service

GPU_QUEUE = "gpu"
DEFAULT_QUEUE = "default"


# ----------------------------------------------------------------------------- encoding


def enqueue_encoding(
    *,
    shops: list[str] | None = None,
    image_spec: str | None = DEFAULT_IMAGE_ENCODER,
    text_spec: str | None = DEFAULT_TEXT_ENCODER,
    chunk_size: int = encoding.DEFAULT_CHUNK_SIZE,
) -> JobHandle:
    """Enqueue the planning job on `gpu`; it enqueues one `encode_chunk_job` per chunk."""
    return enqueue(
        GPU_QUEUE,
        plan_encoding_job,
        shops=shops,
        image_spec=image_spec,
        text_spec=text_spec,
        chunk_size=chunk_size,
    )


def plan_encoding_job(
    *,
    shops: list[str] | None,
    image_spec: str | None,
    text_spec: str | None,
    chunk_size: int,
) -> list[dict]:
    """Find the offers that need encoding and enqueue them in chunks; returns the plan."""
    plan = []
    for encoder, pending, n_offers in encoding.plan_encoding(
        shops=shops, image_spec=image_spec, text_spec=text_spec
    ):
        jobs = [
            enqueue(GPU_QUEUE, encode_chunk_job, encoder_id=encoder.pk, offer_pks=list(chunk))
            for chunk in encoding.chunks(pending, chunk_size)
        ]
        plan.append(
            {
                "encoder": encoder.pk,
                "n_offers": n_offers,
                "n_pending": len(pending),
                "jobs": [job.job_id for job in jobs],
            }
        )
    report_progress(done=1, total=1, stage="planned")
    return plan


def encode_chunk_job(*, encoder_id: int, offer_pks: list[int]) -> dict:
    encoder = Encoder.objects.get(pk=encoder_id)

    def progress(done: int, total: int) -> None:
        report_progress(done=done, total=total, stage=f"{encoder.kind} images")

    report_progress(done=0, total=len(offer_pks), stage=f"{encoder.kind} {encoder.spec}")
    encoded, cached = encoding.encode_chunk(encoder=encoder, offer_pks=offer_pks, progress=progress)
    report_progress(done=len(offer_pks), total=len(offer_pks), stage="done")
    return {"encoded": encoded, "from_cache": cached}


# ----------------------------------------------------------------------------- training


def enqueue_training(**kwargs) -> JobHandle:
    """Arguments as `train_projection_job`."""
    return enqueue(DEFAULT_QUEUE, train_projection_job, **kwargs)


def train_projection_job(
    *,
    train_shops: list[str],
    before: date | None = None,
    features: str | None = None,
    config: dict | None = None,
    image_spec: str | None = DEFAULT_IMAGE_ENCODER,
    text_spec: str | None = DEFAULT_TEXT_ENCODER,
    name: str = "",
) -> int:
    train_config = TrainConfig(**(config or {}))

    def progress(record: dict) -> None:
        report_progress(
            done=int(record["epoch"]), total=train_config.epochs, stage="training epochs"
        )

    model = training.train_projection(
        train_shops=train_shops,
        before=before,
        features=features,
        config=train_config,
        image_spec=image_spec,
        text_spec=text_spec,
        name=name,
        progress=progress,
    )
    return model.pk


# ----------------------------------------------------------------------------- matching


def enqueue_match(**kwargs) -> JobHandle:
    """Arguments as `match_job`."""
    return enqueue(DEFAULT_QUEUE, match_job, **kwargs)


def match_job(
    *,
    query_shop: str,
    index_shop: str,
    since: date | None = None,
    model: int | str | None = None,
    features: str | None = None,
    config: dict | None = None,
    image_spec: str | None = DEFAULT_IMAGE_ENCODER,
    text_spec: str | None = DEFAULT_TEXT_ENCODER,
    new_only: bool = False,
) -> int:
    """``config``: ``MatchConfig.to_dict()`` (possibly partial; MatchConfig's defaults fill in)."""
    report_progress(done=0, total=1, stage="matching")
    run = matching_service.match(
        query_shop=query_shop,
        index_shop=index_shop,
        since=since,
        model=model,
        features=features,
        config=MatchConfig.from_dict(config),
        image_spec=image_spec,
        text_spec=text_spec,
        new_only=new_only,
    )
    report_progress(done=1, total=1, stage="done")
    return run.pk
