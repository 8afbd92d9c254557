"""Tables of the human side: routing, review rows, leases, judgements, decisions, exports.

Invariants (kept by validation/services/ under row locks):

* A ReviewRow is one query offer of a run with its top-k candidates (``candidate_ids`` is the
  rank-ordered snapshot). ``kind`` is ``review`` (in the review band: its decision is exported)
  or ``gold`` (outside the band, answer known from product ids, mixed into the queue to measure
  validators). Gold rows look exactly like review rows on the page. ``conflict`` rows ask
  validators to settle a product conflict (matching's ProductConflict: which of these offers is
  the same product as the query offer?); they are created when a run is routed (one per
  conflict, ``conflict`` set), are judged and decided like review rows, and their decision
  resolves the conflict instead of deciding the run's query (no Decision). A run has at most one
  review or gold row per query offer; a conflict row may share its query offer with one.
* ``n_judgements`` counts the row's active (not undone) judgements; ``judgements_needed`` is what
  validation/aggregation.py says the row needs now: with early decision (the default) the fewest
  judgements after which the row can be decided (2 for a fresh row under a majority of three, 3
  after a disagreement, more on ties); without it ReviewSettings.judgements_per_row, growing by
  one for every tie.
* At most one active judgement per (row, validator) (partial unique constraint).
* ``n_judgements + live leases <= judgements_needed`` for every open row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from matching.models import MatchRun, Offer, ProductConflict


class ReviewSettings(models.Model):
    """Tunables of the review process: one row (pk=1), editable by admins in the Django admin."""

    class Rule(models.TextChoices):
        MAJORITY = "majority", "majority (more than half of the judgements)"
        UNANIMOUS = "unanimous", "unanimous (all judgements agree)"

    judgements_per_row = models.PositiveSmallIntegerField(default=3)
    max_extra_judgements = models.PositiveSmallIntegerField(
        default=2, help_text="ties get one more judgement, at most this many times"
    )
    lease_minutes = models.PositiveSmallIntegerField(default=10)
    gold_rate = models.FloatField(
        default=0.1, help_text="share of handed-out rows that are gold rows (0..1)"
    )
    gold_pool_size = models.PositiveIntegerField(
        default=200, help_text="gold rows created per routing (queries outside the review band)"
    )
    undo_seconds = models.PositiveIntegerField(default=60)
    show_price_colour_sizes = models.BooleanField(
        default=False, help_text="the paper found price, colour and sizes do not help validators"
    )
    aggregation_rule = models.CharField(max_length=20, choices=Rule.choices, default=Rule.MAJORITY)
    early_decision = models.BooleanField(
        default=True,
        help_text=(
            "decide a row as soon as no further judgement can change the outcome (with a "
            "majority of three: stop when two agree; a third judgement only on disagreement). "
            "Same decisions as asking every judgement, fewer judgements"
        ),
    )
    export_inline_max = models.PositiveIntegerField(
        default=5000, help_text="larger exports run as jobs on the export queue"
    )

    class Meta:
        verbose_name = "review settings"
        verbose_name_plural = "review settings"

    def __str__(self) -> str:
        return "review settings"

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> ReviewSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class Routing(models.Model):
    """One application of thresholds to a run (the latest one per run is current)."""

    run = models.ForeignKey(MatchRun, on_delete=models.CASCADE, related_name="routings")
    accept = models.FloatField(null=True, blank=True, help_text="empty: nothing auto-accepted")
    review = models.FloatField(help_text="below: dropped")
    target_precision = models.FloatField(null=True, blank=True)
    suggested = models.BooleanField(default=False, help_text="thresholds suggested, not given")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    is_current = models.BooleanField(default=True)
    n_auto = models.PositiveIntegerField(default=0)
    n_review = models.PositiveIntegerField(default=0)
    n_dropped = models.PositiveIntegerField(default=0)
    n_gold = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return (
            f"routing #{self.pk} of run #{self.run_id} (accept={self.accept}, review={self.review})"
        )


class ReviewRow(models.Model):
    class Kind(models.TextChoices):
        REVIEW = "review"
        GOLD = "gold"
        CONFLICT = "conflict"

    class Status(models.TextChoices):
        OPEN = "open"
        DECIDED = "decided"
        CLOSED = "closed", "closed (left the review band)"

    class Truth(models.TextChoices):
        UNKNOWN = "unknown"
        MATCH = "match", "a candidate matches"
        NONE = "none", "no candidate matches"

    run = models.ForeignKey(MatchRun, on_delete=models.CASCADE, related_name="review_rows")
    routing = models.ForeignKey(Routing, on_delete=models.SET_NULL, null=True, related_name="rows")
    query_offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    candidate_ids = models.JSONField(help_text="candidate offer ids by rank")
    top1_similarity = models.FloatField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REVIEW)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    truth = models.CharField(max_length=10, choices=Truth.choices, default=Truth.UNKNOWN)
    truth_offer = models.ForeignKey(
        Offer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    truth_source = models.CharField(
        max_length=10,
        choices=[("catalogue", "catalogue product ids"), ("file", "truth file (--truth)")],
        default="catalogue",
        help_text="where truth comes from: product ids at routing time, or a truth file",
    )
    judgements_needed = models.PositiveSmallIntegerField(default=3)
    n_judgements = models.PositiveSmallIntegerField(default=0)
    # aggregated outcome: choice is a candidate offer id as string, "none", or "" (pending)
    decision = models.CharField(max_length=30, blank=True)
    no_majority = models.BooleanField(default=False)
    votes_for = models.PositiveSmallIntegerField(default=0)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    conflict = models.OneToOneField(
        ProductConflict,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="kind conflict: the product conflict this row settles",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "query_offer"],
                condition=~Q(kind="conflict"),
                name="row_unique_query",
            )
        ]
        indexes = [
            models.Index(fields=["run", "status", "kind", "n_judgements"]),
            # the review queue: open rows of a pool in the lease order (partly judged first,
            # then oldest); leasing walks it and stops after a few rows (services/leasing.py)
            models.Index(
                fields=["kind", "-n_judgements", "id"],
                condition=Q(status="open"),
                name="row_open_queue",
            ),
        ]

    def __str__(self) -> str:
        return f"row #{self.pk} ({self.kind}) of run #{self.run_id}"


class ReviewLease(models.Model):
    row = models.ForeignKey(ReviewRow, on_delete=models.CASCADE, related_name="leases")
    validator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_leases"
    )
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["row", "validator"], name="lease_unique_validator")
        ]

    def __str__(self) -> str:
        return f"lease of {self.row} to {self.validator}"


class Judgement(models.Model):
    """Who chose what on which row, when, and how long the row was on their screen."""

    row = models.ForeignKey(ReviewRow, on_delete=models.CASCADE, related_name="judgements")
    validator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgements"
    )
    choice = models.CharField(max_length=30, help_text="candidate offer id, or 'none'")
    slot = models.PositiveSmallIntegerField(help_text="key pressed (0 = none)")
    created_at = models.DateTimeField()
    seconds_spent = models.FloatField()
    undone_at = models.DateTimeField(null=True, blank=True)
    revealed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="when its answer was first shown to the validator; no undo after that",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["row", "validator"],
                condition=Q(undone_at__isnull=True),
                name="judgement_once_per_validator",
            )
        ]
        indexes = [models.Index(fields=["validator", "created_at"])]

    def __str__(self) -> str:
        return f"{self.validator} on {self.row}: {self.choice}"


class ReviewSkip(models.Model):
    row = models.ForeignKey(ReviewRow, on_delete=models.CASCADE, related_name="skips")
    validator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["row", "validator"], name="skip_unique")]

    def __str__(self) -> str:
        return f"skip of {self.row} by {self.validator}"


class Decision(models.Model):
    """The current decision on one query of a run (auto from routing, or human from a row)."""

    class Source(models.TextChoices):
        AUTO = "auto"
        HUMAN = "human"

    run = models.ForeignKey(MatchRun, on_delete=models.CASCADE, related_name="decisions")
    query_offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="+")
    matched_offer = models.ForeignKey(
        Offer,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="empty: rejected (no candidate matches)",
    )
    similarity = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    row = models.OneToOneField(
        ReviewRow, null=True, blank=True, on_delete=models.CASCADE, related_name="final"
    )
    routing = models.ForeignKey(Routing, null=True, blank=True, on_delete=models.SET_NULL)
    votes_for = models.PositiveSmallIntegerField(default=0)
    votes_total = models.PositiveSmallIntegerField(default=0)
    decided_at = models.DateTimeField()
    # an automatic match whose pair validators overruled later (matching: the automatic verdict
    # was superseded by a human acceptance): kept for the record, left out of the run's export
    # and the matches API, so they agree with the products; cleared again by an undo
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["run_id", "query_offer_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "query_offer"], name="decision_unique_query")
        ]

    def __str__(self) -> str:
        return f"{self.source} decision on {self.query_offer_id} in run #{self.run_id}"


class Export(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        DONE = "done"
        FAILED = "failed"

    run = models.ForeignKey(MatchRun, on_delete=models.CASCADE, related_name="exports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    path = models.CharField(
        max_length=500,
        blank=True,
        help_text="file name in the export folder (FASHIONID_EXPORT_DIR, outside media)",
    )
    n_rows = models.PositiveIntegerField(default=0)
    n_conflicts_dropped = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export #{self.pk} of run #{self.run_id} ({self.status})"
