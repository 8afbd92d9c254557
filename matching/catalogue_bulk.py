"""Bulk writes of the catalogue import: one chunk of checked rows into Offer / OfferImage.

`write_rows` looks up the chunk's stored offers in one query per shop, leaves unchanged ones
alone, inserts new ones and all image rows (COPY on PostgreSQL, bulk_create elsewhere), updates
changed ones with bulk_update and rewrites their image rows. It raises on any database
refusal; the caller holds a savepoint and falls back to one row at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from django.db import connection
from django.utils import timezone

from core.bulk import copy_rows
from matching.catalogue_images import StoredImage
from matching.catalogue_rows import CatalogueRow, content_hash
from matching.ml.brands import brand_key
from matching.ml.features import normalise_text
from matching.models import ImportBatch, Offer, OfferImage, Shop

OFFER_FIELDS = (
    "brand",
    "brand_normalised",
    "title",
    "text_normalised",
    "price",
    "currency",
    "sizes",
    "category",
    "created_at",
    "product_id",
    "content_hash",
)
COUNTS = ("n_imported", "n_updated", "n_unchanged", "n_images")
IMAGE_FIELDS = (
    "offer_id",
    "position",
    "source_path",
    "original",
    "preprocessed",
    "checksum",
    "width",
    "height",
)


@dataclass
class PreparedRow:
    row: CatalogueRow
    images: list[StoredImage] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # media files written for this row


@lru_cache(maxsize=65536)
def _brand_key(brand: str) -> str:
    return brand_key(brand)


def offer_fields(item: PreparedRow) -> dict:
    row = item.row
    text = normalise_text(row.brand, row.title)
    return {
        "brand": row.brand,
        "brand_normalised": _brand_key(row.brand),
        "title": row.title,
        "text_normalised": text,
        "price": row.price,
        "currency": row.currency,
        "sizes": row.sizes,
        "category": row.category,
        "created_at": row.created_at,
        "product_id": row.product_id,
        "content_hash": content_hash(
            text=text,
            price=row.price,
            sizes=row.sizes,
            checksums=[image.checksum for image in item.images],
        ),
    }


def write_rows(
    *,
    batch: ImportBatch,
    rows: list[PreparedRow],
    shops: dict[str, Shop],
    empty_shops: set[int] | frozenset[int] = frozenset(),
) -> dict:
    """Write checked rows with a few bulk queries; returns the counts. The rows of shops in
    `empty_shops` (no offers before this batch) are not looked up."""
    counts = dict.fromkeys(COUNTS, 0)
    if not rows:
        return counts
    stored = _stored_offers(rows, shops, empty_shops)
    stored_images: dict[int, list[tuple[str, str]]] = {}
    if stored:
        for offer_id, checksum, source in (
            OfferImage.objects.filter(offer_id__in=[values[0] for values in stored.values()])
            .order_by("offer_id", "position")
            .values_list("offer_id", "checksum", "source_path")
        ):
            stored_images.setdefault(offer_id, []).append((checksum, source))
    new: list[tuple[Shop, PreparedRow, dict]] = []
    changed: list[Offer] = []
    image_owners: list[tuple[Offer | dict, list[StoredImage]]] = []
    now = timezone.now()
    for item in rows:
        fields = offer_fields(item)
        shop = shops[item.row.shop]
        values = stored.get((shop.pk, item.row.offer_id))
        if values is None:
            new.append((shop, item, fields))
        elif [(i.checksum, i.source_path) for i in item.images] != stored_images.get(
            values[0], []
        ) or values[1:] != tuple(fields[name] for name in OFFER_FIELDS):
            offer = Offer(
                pk=values[0],
                shop=shop,
                offer_id=item.row.offer_id,
                import_batch=batch,
                updated_at=now,
                **fields,
            )
            changed.append(offer)
            image_owners.append((offer.pk, item.images))  # a changed offer's images are rewritten
        else:
            counts["n_unchanged"] += 1
            continue
        counts["n_images"] += len(item.images)
    new_ids = _insert(batch, new, now=now)
    image_owners += [(pk, item.images) for pk, (_, item, _) in zip(new_ids, new, strict=True)]
    if changed:
        Offer.objects.bulk_update(changed, [*OFFER_FIELDS, "import_batch", "updated_at"])
        OfferImage.objects.filter(offer_id__in=[offer.pk for offer in changed]).delete()
    counts["n_imported"], counts["n_updated"] = len(new), len(changed)
    copy_rows(  # COPY on PostgreSQL: no model object per image
        OfferImage,
        IMAGE_FIELDS,
        [
            (
                pk,
                position,
                image.source_path,
                image.original,
                image.preprocessed,
                image.checksum,
                image.width,
                image.height,
            )
            for pk, images in image_owners
            for position, image in enumerate(images)
        ],
    )
    return counts


def _stored_offers(
    rows: list[PreparedRow], shops: dict[str, Shop], empty_shops: set[int] | frozenset[int]
) -> dict[tuple[int, str], tuple]:
    """(shop id, offer_id) -> (id, *OFFER_FIELDS) of the chunk's offers already stored."""
    by_shop: dict[int, list[str]] = {}
    for item in rows:
        shop_id = shops[item.row.shop].pk
        if shop_id not in empty_shops:
            by_shop.setdefault(shop_id, []).append(item.row.offer_id)
    found: dict[tuple[int, str], tuple] = {}
    for shop_id, offer_ids in by_shop.items():
        if connection.vendor == "postgresql":  # one array parameter instead of a long IN list
            offers = Offer.objects.filter(shop_id=shop_id).extra(
                where=["offer_id = ANY(%s)"], params=[offer_ids]
            )
        else:
            offers = Offer.objects.filter(shop_id=shop_id, offer_id__in=offer_ids)
        for offer_id, *values in offers.values_list("offer_id", "pk", *OFFER_FIELDS):
            found[(shop_id, offer_id)] = tuple(values)
    return found


def _insert(batch: ImportBatch, new: list[tuple[Shop, PreparedRow, dict]], *, now) -> list[int]:
    """Insert new offers; returns their ids in order."""
    if not new:
        return []
    if connection.vendor != "postgresql":
        offers = [
            Offer(shop=shop, offer_id=item.row.offer_id, import_batch=batch, **fields)
            for shop, item, fields in new
        ]
        Offer.objects.bulk_create(offers)
        return [offer.pk for offer in offers]
    # COPY is several times faster than INSERT; ids are drawn from the table's sequence first
    # so that the image rows can point at them.
    table = Offer._meta.db_table
    model_fields = Offer._meta.concrete_fields
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(new)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        columns = [f.column for f in model_fields]
        cursor.execute(
            "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %s::regclass",
            [table],
        )
        oids = dict(cursor.fetchall())
        names = [f.attname for f in model_fields]
        sql = f"COPY {quote(table)} ({', '.join(map(quote, columns))}) FROM STDIN (FORMAT BINARY)"
        with cursor.cursor.copy(sql) as copy:
            copy.set_types([oids[column] for column in columns])  # binary: nothing to parse
            for pk, (shop, item, fields) in zip(ids, new, strict=True):
                values = {
                    **fields,
                    "id": pk,
                    "shop_id": shop.pk,
                    "offer_id": item.row.offer_id,
                    "import_batch_id": batch.pk,
                    "updated_at": now,
                }
                copy.write_row([values[name] for name in names])
    return ids
