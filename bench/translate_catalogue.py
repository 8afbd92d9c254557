"""A variant of a catalogue whose query shop titles in German or French (SIMULATED).

    .venv/bin/python bench/translate_catalogue.py ../shared/data/bench/fashion-xshop-dev \
        /tmp/xshop-dune-de --shop dune --language de [--images link|copy|drop]

Writes OUT/offers.csv (every column kept; only the titles of ``--shop`` change) and OUT/images:
hard links to the original image files (``link``, the default; a copy where linking fails),
copies (``copy``), or no images at all (``drop``: the ``images`` column is emptied, for cheap
text-only runs). Symlinks would not do: ``import_catalogue`` resolves image paths and refuses
any that leave the catalogue folder. Image bytes are unchanged, so the image content hashes
(and the embedding cache, keyed by offer content hash) are the same for the shops not translated.

The rendering is a deterministic dictionary translation, not a translator: colour, garment,
gender and a few fashion words are replaced, colour and pattern adjectives are inflected for the
German noun's gender, and one of three word orders is picked per offer (by a hash of its id);
words outside the dictionaries (brands, model names, Indian garment names) stay as they are.
Its dictionaries are written here on their own, independently of matching/ml/text_vocabulary.py,
with inflected forms and compounds the normaliser has to undo; but one person wrote both, so a
measurement on this variant is an optimistic bound for a real German shop. ``--language en``
copies the titles unchanged (a baseline with the same image handling).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
from pathlib import Path

# English phrase -> (German noun, grammatical gender m/f/n/p, French noun, French gender m/f/p)
GARMENTS = {
    "t-shirt": ("t-shirt", "n", "t-shirt", "m"),
    "t-shirts": ("t-shirts", "p", "t-shirts", "p"),
    "tshirt": ("t-shirt", "n", "tee-shirt", "m"),
    "tshirts": ("t-shirts", "p", "t-shirts", "p"),
    "shirt": ("hemd", "n", "chemise", "f"),
    "shirts": ("hemden", "p", "chemises", "p"),
    "top": ("oberteil", "n", "haut", "m"),
    "tops": ("oberteile", "p", "hauts", "p"),
    "dress": ("kleid", "n", "robe", "f"),
    "skirt": ("rock", "m", "jupe", "f"),
    "jeans": ("jeans", "p", "jean", "m"),
    "trousers": ("hose", "f", "pantalon", "m"),
    "trouser": ("hose", "f", "pantalon", "m"),
    "pants": ("hose", "f", "pantalon", "m"),
    "track pants": ("jogginghose", "f", "jogging", "m"),
    "shorts": ("shorts", "p", "short", "m"),
    "capri": ("caprihose", "f", "pantacourt", "m"),
    "capris": ("caprihose", "f", "pantacourt", "m"),
    "jacket": ("jacke", "f", "veste", "f"),
    "jackets": ("jacken", "p", "vestes", "p"),
    "sweater": ("pullover", "m", "pull-over", "m"),
    "sweatshirt": ("sweatshirt", "n", "sweat-shirt", "m"),
    "vest": ("unterhemd", "n", "débardeur", "m"),
    "vests": ("unterhemden", "p", "débardeurs", "p"),
    "shoes": ("schuhe", "p", "chaussures", "p"),
    "shoe": ("schuhe", "p", "chaussures", "p"),
    "casual shoes": ("freizeitschuhe", "p", "baskets", "p"),
    "sports shoes": ("sportschuhe", "p", "chaussures de sport", "p"),
    "formal shoes": ("businessschuhe", "p", "chaussures de ville", "p"),
    "sandals": ("sandalen", "p", "sandales", "p"),
    "sandal": ("sandale", "f", "sandale", "f"),
    "flip flops": ("zehentrenner", "p", "tongs", "p"),
    "flats": ("ballerinas", "p", "ballerines", "p"),
    "heels": ("pumps", "p", "escarpins", "p"),
    "slippers": ("hausschuhe", "p", "chaussons", "p"),
    "watch": ("armbanduhr", "f", "montre", "f"),
    "watches": ("uhren", "p", "montres", "p"),
    "handbag": ("handtasche", "f", "sac à main", "m"),
    "handbags": ("handtaschen", "p", "sacs à main", "p"),
    "bag": ("tasche", "f", "sac", "m"),
    "backpack": ("rucksack", "m", "sac à dos", "m"),
    "backpacks": ("rucksäcke", "p", "sacs à dos", "p"),
    "wallet": ("geldbörse", "f", "portefeuille", "m"),
    "wallets": ("geldbörsen", "p", "portefeuilles", "p"),
    "belt": ("gürtel", "m", "ceinture", "f"),
    "belts": ("gürtel", "p", "ceintures", "p"),
    "sunglasses": ("sonnenbrille", "f", "lunettes de soleil", "p"),
    "socks": ("socken", "p", "chaussettes", "p"),
    "tie": ("krawatte", "f", "cravate", "f"),
    "scarf": ("schal", "m", "écharpe", "f"),
    "cap": ("kappe", "f", "casquette", "f"),
    "earrings": ("ohrringe", "p", "boucles d'oreilles", "p"),
    "necklace": ("halskette", "f", "collier", "m"),
    "pendant": ("anhänger", "m", "pendentif", "m"),
    "ring": ("ring", "m", "bague", "f"),
    "bra": ("bh", "m", "soutien-gorge", "m"),
    "briefs": ("slips", "p", "culottes", "p"),
    "brief": ("slip", "m", "culotte", "f"),
    "nightdress": ("nachthemd", "n", "chemise de nuit", "f"),
    "leggings": ("leggings", "p", "leggings", "p"),
    "boxers": ("boxershorts", "p", "caleçons", "p"),
}

# English colour -> (German stem, French masculine, French feminine). German stems take the
# adjective ending; "rosa"/"lila"/"beige"/"orange" and compounds of "farben" do not inflect.
COLOURS = {
    "black": ("schwarz", "noir", "noire"),
    "white": ("weiß", "blanc", "blanche"),
    "blue": ("blau", "bleu", "bleue"),
    "navy": ("dunkelblau", "bleu marine", "bleu marine"),
    "red": ("rot", "rouge", "rouge"),
    "maroon": ("weinrot", "bordeaux", "bordeaux"),
    "green": ("grün", "vert", "verte"),
    "olive": ("olivgrün", "kaki", "kaki"),
    "yellow": ("gelb", "jaune", "jaune"),
    "mustard": ("senfgelb", "moutarde", "moutarde"),
    "pink": ("rosa", "rose", "rose"),
    "purple": ("lila", "violet", "violette"),
    "brown": ("braun", "marron", "marron"),
    "tan": ("hellbraun", "camel", "camel"),
    "grey": ("grau", "gris", "grise"),
    "charcoal": ("anthrazit", "anthracite", "anthracite"),
    "silver": ("silbern", "argenté", "argentée"),
    "gold": ("golden", "doré", "dorée"),
    "golden": ("golden", "doré", "dorée"),
    "beige": ("beige", "beige", "beige"),
    "cream": ("cremefarben", "crème", "crème"),
    "orange": ("orange", "orange", "orange"),
    "turquoise": ("türkis", "turquoise", "turquoise"),
    "peach": ("pfirsichfarben", "pêche", "pêche"),
    "multi": ("mehrfarbig", "multicolore", "multicolore"),
    "khaki": ("khaki", "kaki", "kaki"),
    "teal": ("petrol", "sarcelle", "sarcelle"),
}
GERMAN_INVARIANT = {"rosa", "lila", "beige", "orange", "khaki", "petrol"}

# Other adjectives: English -> (German stem, French masculine, French feminine)
ADJECTIVES = {
    "printed": ("bedruckt", "imprimé", "imprimée"),
    "print": ("bedruckt", "imprimé", "imprimée"),
    "striped": ("gestreift", "rayé", "rayée"),
    "stripes": ("gestreift", "rayé", "rayée"),
    "check": ("kariert", "à carreaux", "à carreaux"),
    "checked": ("kariert", "à carreaux", "à carreaux"),
    "solid": ("einfarbig", "uni", "unie"),
    "casual": ("lässig", "décontracté", "décontractée"),
    "formal": ("elegant", "habillé", "habillée"),
    "leather": ("ledern", "en cuir", "en cuir"),
    "cotton": ("baumwoll", "en coton", "en coton"),
    "silk": ("seiden", "en soie", "en soie"),
    "light": ("hell", "clair", "claire"),
    "slim": ("schmal", "ajusté", "ajustée"),
}

GENDER_DE = {"men": "herren", "men's": "herren", "mens": "herren", "women": "damen",
             "women's": "damen", "womens": "damen", "woman": "damen", "boys": "jungen",
             "boy's": "jungen", "boy": "jungen", "girls": "mädchen", "girl's": "mädchen",
             "kids": "kinder", "unisex": "unisex"}  # fmt: skip
GENDER_FR = {"herren": "homme", "damen": "femme", "jungen": "garçon", "mädchen": "fille",
             "kinder": "enfant", "unisex": "mixte"}  # fmt: skip
ENDING_DE = {"m": "er", "f": "e", "n": "es", "p": "e"}
OTHER_DE = {"with": "mit", "and": "und", "pack": "packung", "dial": "zifferblatt", "of": "von"}
OTHER_FR = {"with": "avec", "and": "et", "pack": "lot", "dial": "cadran", "of": "de"}


def _german_adjective(stem: str, gender: str) -> str:
    if stem in GERMAN_INVARIANT or stem == "hell":
        return stem
    if stem == "baumwoll" or stem == "seiden":  # noun-like prefixes: "baumwoll-hemd"
        return stem + "-"
    return stem + ENDING_DE[gender]


def _parse(words: list[str]) -> dict:
    """Pick out gender, colours, adjectives and the garment (longest phrase, last one wins)."""
    parts: dict = {"gender": None, "colours": [], "adjectives": [], "garment": None, "rest": []}
    i = 0
    while i < len(words):
        two = " ".join(words[i : i + 2])
        if two in GARMENTS or two in COLOURS:
            key = two
            i += 2
        else:
            key = words[i]
            i += 1
        if key in GARMENTS:
            if parts["garment"] is not None:
                parts["rest"].append(parts["garment"])
            parts["garment"] = key
        elif key in COLOURS:
            parts["colours"].append(key)
        elif key in ADJECTIVES:
            parts["adjectives"].append(key)
        elif key in GENDER_DE and parts["gender"] is None:
            parts["gender"] = GENDER_DE[key]
        else:
            parts["rest"].append(key)
    return parts


def render(title: str, *, brand: str, offer_id: str, language: str) -> str:
    """The title in ``language`` (``de``/``fr``/``en``), deterministic per offer id."""
    if language == "en":
        return title
    lowered, prefix = title.lower(), ""
    if brand and lowered.startswith(brand.lower()):
        prefix, lowered = title[: len(brand)], lowered[len(brand) :]
    words = [w for w in lowered.replace(" - ", " ").split() if w not in {"-", "in"}]
    p = _parse(words)
    template = int(hashlib.sha256(offer_id.encode()).hexdigest(), 16) % 3
    render_one = _german if language == "de" else _french
    body = render_one(p, template)
    return " ".join(x for x in [prefix.strip(), body] if x)


def _german(p: dict, template: int) -> str:
    de, g = GARMENTS[p["garment"]][:2] if p["garment"] else ("", "n")
    colours = [COLOURS[c][0] for c in p["colours"]]
    adjectives = [ADJECTIVES[a][0] for a in p["adjectives"]]
    rest = [OTHER_DE.get(w, w) for w in p["rest"]]
    gender = p["gender"] or ""
    if template == 0:  # "herren blaues kariertes hemd"
        inflected = [_german_adjective(s, g) for s in colours + adjectives]
        noun = "".join(x for x in inflected if x.endswith("-")).replace("-", "") + de
        words = [gender, *[x for x in inflected if not x.endswith("-")], *rest, noun]
    elif template == 1:  # "herrenhemd kariert in blau"
        noun = (gender + de) if gender in {"herren", "damen", "kinder"} and " " not in de else de
        lead = [] if noun != de or not gender else [gender]
        words = [*lead, noun, *rest, *adjectives, "in" if colours else "", " und ".join(colours)]
    else:  # "hemd für herren - blau, kariert"
        words = [de, f"für {gender}" if gender else "", *rest, "-", ", ".join(colours + adjectives)]
    return " ".join(w for w in words if w).strip(" -")


def _french(p: dict, template: int) -> str:
    fr, g = GARMENTS[p["garment"]][2:] if p["garment"] else ("", "m")
    fem = g == "f"
    colours = [COLOURS[c][2 if fem else 1] for c in p["colours"]]
    adjectives = [ADJECTIVES[a][2 if fem else 1] for a in p["adjectives"]]
    plural = "s" if g == "p" else ""
    colours = [
        c + plural if g == "p" and c[-1] not in "sx" and " " not in c else c for c in colours
    ]
    rest = [OTHER_FR.get(w, w) for w in p["rest"]]
    gender = GENDER_FR.get(p["gender"] or "", "")
    if template == 0:  # "robe imprimée rouge femme"
        words = [fr, *adjectives, *colours, *rest, gender]
    elif template == 1:  # "robe pour femme - rouge, imprimée"
        words = [
            fr,
            f"pour {gender}" if gender else "",
            *rest,
            "-",
            ", ".join(colours + adjectives),
        ]
    else:  # "femme robe rouge imprimée"
        words = [gender, fr, *colours, *adjectives, *rest]
    return " ".join(w for w in words if w).strip(" -")


def _place_images(source: Path, out: Path, mode: str) -> None:
    if mode == "drop" or not (source / "images").is_dir():
        return
    for src in sorted((source / "images").rglob("*")):
        target = out / src.relative_to(source)
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            continue
        if mode == "link":
            try:
                os.link(src, target)
                continue
            except OSError:
                pass
        shutil.copy2(src, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalogue", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--shop", required=True, help="the shop whose titles are rendered")
    parser.add_argument("--language", choices=["de", "fr", "en"], default="de")
    parser.add_argument("--images", choices=["link", "copy", "drop"], default="link")
    args = parser.parse_args()
    source = args.catalogue.resolve()
    out = args.out.resolve()
    if out == source or source in out.parents:
        parser.error("the output folder must be outside the catalogue")
    out.mkdir(parents=True, exist_ok=True)
    with (source / "offers.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    if not any(r["shop"] == args.shop for r in rows):
        parser.error(f"no offers of shop {args.shop!r}")
    changed = 0
    for row in rows:
        if row["shop"] == args.shop:
            new = render(
                row["title"], brand=row["brand"], offer_id=row["offer_id"], language=args.language
            )
            changed += new != row["title"]
            row["title"] = new
        if args.images == "drop":
            row["images"] = ""
    with (out / "offers.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    _place_images(source, out, args.images)
    print(
        f"{out}: {len(rows)} offers, {changed} titles of {args.shop!r} rendered ({args.language})"
    )


if __name__ == "__main__":
    main()
