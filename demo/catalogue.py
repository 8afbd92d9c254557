"""A small synthetic multi-shop catalogue for the demo (works offline, without ../shared).

Products are drawn garments/accessories (shape by category, colour, pattern, a product-specific
logo). Three shops show them in their own style, as real shops do: photo style (background,
mirroring, tint, crop/zoom close-ups, rotation, JPEG quality) and title style (templates, brand
spelling variants such as "ADIDAS Originals" vs "adidas"). Some offers are lone (no match in any
other shop). Everything is seeded: the same seed gives the same catalogue. The demo command
marks its shops synthetic after the import (demo.services), and the UI labels them.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageOps

DEMO_FOLDER_NAME = "synthetic-demo-catalogue"
CUTOFF = date(2025, 7, 1)
INDEX_SHOP, QUERY_SHOP, TRAIN_SHOP = "atelier-demo", "boulevard-demo", "corso-demo"
SHOP_NAMES = (INDEX_SHOP, QUERY_SHOP, TRAIN_SHOP)
SIZE = (254, 367)
VARIANT_SHARE = 0.3  # products that are near-duplicates of the previous one

COLOURS = {
    "Black": (25, 25, 25),
    "White": (235, 235, 230),
    "Red": (200, 30, 40),
    "Navy Blue": (25, 40, 110),
    "Green": (40, 140, 60),
    "Yellow": (235, 200, 40),
    "Pink": (235, 130, 170),
    "Grey": (128, 128, 128),
    "Brown": (120, 75, 40),
    "Purple": (110, 50, 140),
}
SINGULAR = {
    "Tshirts": "T-shirt",
    "Shirts": "Shirt",
    "Dresses": "Dress",
    "Casual Shoes": "Sneakers",
    "Handbags": "Handbag",
    "Watches": "Watch",
    "Jeans": "Jeans",
}
CATEGORIES = ("Tshirts", "Shirts", "Dresses", "Casual Shoes", "Handbags", "Watches", "Jeans")
PATTERNS = ("plain", "stripes", "dots", "checks")
BRANDS = {
    # canonical: (index shop spelling, query shop spelling, train shop spelling)
    "adidas": ("adidas", "ADIDAS Originals", "Adidas Performance"),
    "Nike": ("Nike", "NIKE", "Nike Sportswear"),
    "Puma": ("Puma", "PUMA", "puma"),
    "Levi's": ("Levi's", "LEVIS", "Levi's Red Tab"),
    "Fossil": ("Fossil", "FOSSIL", "Fossil Inc."),
    "Mango": ("Mango", "MANGO", "Mango Collection"),
    "Tommy Hilfiger": ("Tommy Hilfiger", "TOMMY HILFIGER", "Tommy Jeans"),
    "Roadster": ("Roadster", "ROADSTER", "Roadster"),
}
SIZES = {
    "Tshirts": ["XS", "S", "M", "L", "XL", "XXL"],
    "Shirts": ["S", "M", "L", "XL"],
    "Dresses": ["XS", "S", "M", "L"],
    "Casual Shoes": ["39", "40", "41", "42", "43", "44", "45"],
    "Handbags": ["ONE SIZE"],
    "Watches": ["ONE SIZE"],
    "Jeans": ["28", "30", "32", "34", "36"],
}


@dataclass(frozen=True)
class Product:
    product_id: str
    brand: str
    category: str
    colour: str
    pattern: str
    gender: str
    price: float
    logo: tuple[int, int, int, int]  # x, y, radius, shape
    created_at: date


@dataclass(frozen=True)
class ShopStyle:
    name: str
    brand_variant: int
    background: tuple[int, int, int]
    mirror: bool
    tint: tuple[int, int, int]
    zoom: float
    rotation: float
    jpeg_quality: int
    title: str  # a format string


STYLES = (
    ShopStyle(
        INDEX_SHOP,
        0,
        (255, 255, 255),
        False,
        (0, 0, 0),
        1.0,
        0,
        92,
        "{brand} {gender} {colour} {pattern_word}{category_singular}",
    ),
    ShopStyle(
        QUERY_SHOP,
        1,
        (232, 232, 236),
        True,
        (10, 0, -10),
        1.15,
        0,
        80,
        "{category_singular} by {brand} – {colour_lower}, {gender_lower}",
    ),
    ShopStyle(
        TRAIN_SHOP,
        2,
        (245, 238, 225),
        False,
        (-8, 4, 10),
        0.9,
        4,
        70,
        "{brand_upper} | {colour} {category_singular} for {gender_lower}",
    ),
)


def generate_demo_catalogue(*, directory: Path | str, n_products: int = 120, seed: int = 7) -> Path:
    """Write offers.csv and images into `directory`; returns the folder."""
    rng = random.Random(seed)
    folder = Path(directory)
    for style in STYLES:
        (folder / "images" / style.name).mkdir(parents=True, exist_ok=True)
    products: list[Product] = []
    for index in range(n_products):
        product = _product(rng, index)
        if products and rng.random() < VARIANT_SHARE:
            product = _variant_of(rng, products[-1], product)
        products.append(product)
    rows: list[dict] = []
    for product in products:
        after_cutoff = product.created_at >= CUTOFF
        if rng.random() < 0.15:  # lone offer in the query shop: no match anywhere
            rows.append(_offer(folder, rng, product, STYLES[1]))
            continue
        shops = [STYLES[0]]
        if rng.random() < 0.75:
            shops.append(STYLES[1])
        if not after_cutoff and rng.random() < 0.7:
            shops.append(STYLES[2])
        if len(shops) == 1 and rng.random() < 0.5:
            shops.append(STYLES[1])
        for style in shops:
            rows.append(_offer(folder, rng, product, style))
    with (folder / "offers.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def _variant_of(rng: random.Random, base: Product, fresh: Product) -> Product:
    """Same brand, type, colour and pattern as `base`, another detail: a near-duplicate whose
    title reads the same, as real catalogues have (the hard cases for matching and review)."""
    return Product(
        product_id=fresh.product_id,
        brand=base.brand,
        category=base.category,
        colour=base.colour,
        pattern=base.pattern,
        gender=base.gender,
        price=fresh.price,
        logo=fresh.logo,
        created_at=fresh.created_at,
    )


def _product(rng: random.Random, index: int) -> Product:
    category = rng.choice(CATEGORIES)
    days = rng.randint(0, 540)
    return Product(
        product_id=f"demo-{index:04d}",
        brand=rng.choice(list(BRANDS)),
        category=category,
        colour=rng.choice(list(COLOURS)),
        pattern=rng.choice(PATTERNS),
        gender="Women" if category in ("Dresses", "Handbags") else rng.choice(("Men", "Women")),
        price=round(rng.uniform(12, 180), 0) - 0.05,
        logo=(rng.randint(70, 180), rng.randint(110, 250), rng.randint(8, 22), rng.randint(0, 2)),
        created_at=date(2024, 7, 1) + timedelta(days=days),
    )


def _offer(folder: Path, rng: random.Random, product: Product, style: ShopStyle) -> dict:
    offer_id = f"{style.name[:2]}{rng.getrandbits(40):010x}"
    n_images = rng.randint(1, 3)
    names = []
    for position in range(n_images):
        name = f"images/{style.name}/{offer_id}_{position + 1}.jpg"
        _render(product, style, close_up=position > 0, rng=rng).save(
            folder / name, quality=style.jpeg_quality
        )
        names.append(name)
    brand = BRANDS[product.brand][style.brand_variant]
    singular = SINGULAR.get(product.category, product.category)
    title = style.title.format(
        brand=brand,
        brand_upper=brand.upper(),
        gender=product.gender,
        gender_lower=product.gender.lower(),
        colour=product.colour,
        colour_lower=product.colour.lower(),
        pattern_word="" if product.pattern == "plain" else f"{product.pattern.title()} ",
        category_singular=singular,
    )
    sizes = SIZES[product.category]
    available = (
        sizes
        if len(sizes) == 1
        else sorted(rng.sample(sizes, rng.randint(2, len(sizes))), key=sizes.index)
    )
    created = product.created_at + timedelta(days=rng.randint(0, 20))
    if product.created_at < CUTOFF <= created:
        created = CUTOFF - timedelta(days=1)
    return {
        "offer_id": offer_id,
        "shop": style.name,
        "brand": brand,
        "title": title,
        "price": f"{product.price + (style.brand_variant * 5 if rng.random() < 0.2 else 0):.2f}",
        "currency": "EUR",
        "sizes": "|".join(available),
        "category": product.category,
        "created_at": created.isoformat(),
        "product_id": product.product_id,
        "images": "|".join(names),
    }


def _render(
    product: Product, style: ShopStyle, *, close_up: bool, rng: random.Random
) -> Image.Image:
    colour = tuple(
        max(0, min(255, c + t)) for c, t in zip(COLOURS[product.colour], style.tint, strict=True)
    )
    image = Image.new("RGB", SIZE, style.background)
    draw = ImageDraw.Draw(image)
    shape = _shape(product.category)
    draw.polygon(shape, fill=colour, outline=(40, 40, 40))
    _pattern(draw, product.pattern, colour)
    x, y, radius, kind = product.logo
    accent = (255 - colour[0], 255 - colour[1] // 2, 60)
    box = [x - radius, y - radius, x + radius, y + radius]
    (
        draw.ellipse,
        draw.rectangle,
        lambda b, fill: draw.polygon(
            [(b[0], b[3]), ((b[0] + b[2]) // 2, b[1]), (b[2], b[3])], fill=fill
        ),
    )[kind](box, fill=accent)
    if style.mirror:
        image = ImageOps.mirror(image)
    if style.rotation:
        image = image.rotate(style.rotation + rng.uniform(-1, 1), fillcolor=style.background)
    zoom = style.zoom * (1.8 if close_up else 1.0) * rng.uniform(0.97, 1.03)
    if zoom != 1.0:
        width, height = SIZE
        crop_w, crop_h = int(width / zoom), int(height / zoom)
        cx = x if close_up else width // 2
        cy = y if close_up else height // 2
        left = max(0, min(width - crop_w, cx - crop_w // 2)) if zoom > 1 else (width - crop_w) // 2
        top = max(0, min(height - crop_h, cy - crop_h // 2)) if zoom > 1 else (height - crop_h) // 2
        if zoom > 1:
            image = image.crop((left, top, left + crop_w, top + crop_h)).resize(SIZE)
        else:
            canvas = Image.new("RGB", (crop_w, crop_h), style.background)
            canvas.paste(image, ((crop_w - width) // 2, (crop_h - height) // 2))
            image = canvas.resize(SIZE)
    return image.filter(ImageFilter.GaussianBlur(0.6))


def _shape(category: str) -> list[tuple[int, int]]:
    shapes = {
        "Tshirts": [
            (60, 60),
            (100, 45),
            (154, 45),
            (194, 60),
            (230, 120),
            (195, 135),
            (190, 320),
            (64, 320),
            (59, 135),
            (24, 120),
        ],
        "Shirts": [
            (70, 50),
            (110, 40),
            (144, 40),
            (184, 50),
            (225, 200),
            (195, 210),
            (185, 330),
            (69, 330),
            (59, 210),
            (29, 200),
        ],
        "Dresses": [(95, 40), (159, 40), (175, 130), (225, 340), (29, 340), (79, 130)],
        "Casual Shoes": [
            (30, 230),
            (120, 200),
            (170, 150),
            (210, 160),
            (230, 260),
            (225, 290),
            (30, 290),
        ],
        "Handbags": [(50, 140), (204, 140), (224, 320), (30, 320)],
        "Watches": [
            (107, 40),
            (147, 40),
            (147, 140),
            (187, 180),
            (187, 230),
            (147, 270),
            (147, 340),
            (107, 340),
            (107, 270),
            (67, 230),
            (67, 180),
            (107, 140),
        ],
        "Jeans": [(70, 40), (184, 40), (200, 340), (140, 340), (127, 150), (114, 340), (54, 340)],
    }
    return shapes[category]


def _pattern(draw: ImageDraw.ImageDraw, pattern: str, colour: tuple[int, ...]) -> None:
    ink = tuple(min(255, c + 70) if sum(colour) < 380 else max(0, c - 90) for c in colour)
    if pattern == "stripes":
        for y in range(70, 330, 24):
            draw.line([(75, y), (180, y)], fill=ink, width=6)
    elif pattern == "dots":
        for y in range(80, 320, 30):
            for x in range(85, 180, 30):
                draw.ellipse([x, y, x + 8, y + 8], fill=ink)
    elif pattern == "checks":
        for y in range(70, 330, 28):
            draw.line([(75, y), (180, y)], fill=ink, width=3)
        for x in range(80, 180, 28):
            draw.line([(x, 70), (x, 320)], fill=ink, width=3)
