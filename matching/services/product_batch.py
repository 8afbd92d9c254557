"""Many accepted verdicts applied to the products at once (a routing's automatic acceptances).

The same outcome as :func:`matching.services.products.apply_accept` called on each verdict in
turn, without its dozen queries per verdict (a first routing at the paper's scale accepts ~50k
pairs): the offers' shops, memberships and products are loaded once, each verdict is planned in
memory with the same rule (``matching.products.plan_accept``) against the state the verdicts
before it left, and the pairs that create or grow a product are written in bulk (products,
memberships and events, in the verdicts' order). Every other outcome (a merge, a conflict, a
human verdict confirming a pair) is rare: the pending writes are flushed, ``apply_accept``
handles that verdict from the database as before, and the in-memory state of the offers it may
have touched is reloaded. Callers hold the transaction and the shop locks, as for apply_accept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from core import bulk
from matching import products as prules
from matching.models import Offer, PairVerdict, Product, ProductEvent, ProductMembership
from matching.services import products as product_writes

CHUNK = 5000


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ids = sorted(set(ids))
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


class _State:
    """Shops, memberships and product views of the offers in play, as the database has them
    plus the pending (not yet written) creations and growths."""

    def __init__(self, offer_ids: set[int], *, now: datetime):
        self.now = now
        self.shops: dict[int, int] = dict(bulk.rows_by_ids(Offer, offer_ids, ["id", "shop_id"]))
        self.product_of: dict[int, str] = {}
        self.views: dict[str, prules.ProductView] = {}
        self.pks: dict[str, int] = {}
        self.new_products: list[str] = []
        self.new_members: list[tuple[int, str, str]] = []  # offer, product key, decided_by
        self.new_events: list[tuple[str, str, str, PairVerdict, list[int]]] = []
        self.load(offer_ids)

    def load(self, offer_ids: Iterable[int]) -> None:
        """(Re)load these offers' memberships and the whole of their products, locked."""
        offer_ids = set(offer_ids)
        product_ids = {
            p
            for (p,) in bulk.rows_by_ids(
                ProductMembership, offer_ids, ["product_id"], by="offer_id"
            )
        }
        self.product_of.update(dict.fromkeys(offer_ids))  # type: ignore[arg-type]
        for ids in _chunks(product_ids):
            products = Product.objects.filter(pk__in=ids).select_for_update().order_by("pk")
            by_pk = {p.pk: p for p in products}
            members: dict[int, dict[int, int]] = {pk: {} for pk in by_pk}
            joined: dict[int, dict] = {pk: {} for pk in by_pk}
            for offer, shop, product, at in ProductMembership.objects.filter(
                product_id__in=ids
            ).values_list("offer_id", "shop_id", "product_id", "joined_at"):
                members[product][offer] = shop
                joined[product][offer] = at
                self.shops.setdefault(offer, shop)
                self.product_of[offer] = by_pk[product].key
            for pk, p in by_pk.items():
                self.pks[p.key] = pk
                self.views[p.key] = prules.ProductView(
                    key=p.key, created_at=p.created_at, members=members[pk], joined=joined[pk]
                )
        for o in [o for o, k in self.product_of.items() if k is None]:
            del self.product_of[o]

    def involved(self, a: int, b: int) -> set[int]:
        out = {a, b}
        for o in (a, b):
            key = self.product_of.get(o)
            if key is not None:
                out |= set(self.views[key].members)
        return out

    def create(self, verdict: PairVerdict, change: prules.Change) -> None:
        key = product_writes.new_product_key()
        self.new_products.append(key)
        members = {o: self.shops[o] for o in change.add}
        self.views[key] = prules.ProductView(
            key=key,
            created_at=self.now,
            members=members,
            joined=dict.fromkeys(members, self.now),
        )
        for o in change.add:
            self.product_of[o] = key
            self.new_members.append((o, key, verdict.source))
        self.new_events.append(
            (key, ProductEvent.Kind.CREATED, change.reason, verdict, list(change.add))
        )

    def grow(self, verdict: PairVerdict, change: prules.Change) -> None:
        (o,) = change.add
        view = self.views[change.key]
        view.members[o] = self.shops[o]  # type: ignore[index]
        view.joined[o] = self.now  # type: ignore[index]
        self.product_of[o] = change.key
        self.new_members.append((o, change.key, verdict.source))
        self.new_events.append((change.key, ProductEvent.Kind.GROWN, change.reason, verdict, [o]))

    def flush(self) -> None:
        now = self.now
        bulk.copy_rows(Product, ["key", "created_at"], [(k, now) for k in self.new_products])
        for i in range(0, len(self.new_products), CHUNK):
            keys = self.new_products[i : i + CHUNK]
            self.pks.update(Product.objects.filter(key__in=keys).values_list("key", "pk"))
        bulk.copy_rows(
            ProductMembership,
            ["offer_id", "shop_id", "product_id", "decided_by", "joined_at", "updated_at"],
            [
                (o, self.shops[o], self.pks[key], source, now, now)
                for o, key, source in self.new_members
            ],
        )
        bulk.copy_rows(
            ProductEvent,
            ["product_id", "kind", "at", "reason", "verdict_id", "details"],
            [
                (self.pks[key], kind, now, reason[:500], verdict.pk, {"offers": offers})
                for key, kind, reason, verdict, offers in self.new_events
            ],
        )
        self.new_products, self.new_members, self.new_events = [], [], []


def apply_accepts(verdicts: Sequence[PairVerdict], *, now: datetime) -> list[str]:
    """Apply these accepted verdicts in order; returns each one's change kind (as apply_accept)."""
    if not verdicts:
        return []
    state = _State({o for v in verdicts for o in (v.query_offer_id, v.candidate_offer_id)}, now=now)
    kinds = []
    for verdict in verdicts:
        a, b = verdict.query_offer_id, verdict.candidate_offer_id
        change = prules.plan_accept(
            a=a, b=b, shops=state.shops, product_of=state.product_of, products=state.views
        )
        if change.kind == prules.CREATED:
            state.create(verdict, change)
        elif change.kind == prules.GROWN:
            state.grow(verdict, change)
        elif change.kind == prules.NOOP and not (
            verdict.source == PairVerdict.Source.HUMAN and change.key
        ):
            pass  # apply_accept writes nothing for these either
        else:  # merges, conflicts, human confirmations: as before, from the database
            state.flush()
            touched = state.involved(a, b)
            change = prules.Change(kind=product_writes.apply_accept(verdict, now=now))
            for o in touched:
                state.product_of.pop(o, None)
            state.load(touched)
        kinds.append(change.kind)
    state.flush()
    return kinds
