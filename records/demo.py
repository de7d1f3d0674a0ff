"""Plausible charity-register rows for demos, tests and benchmarks.

`demo_rows(n, seed=…)` yields the same rows for the same seed: names, references like
GB-CHC-1234567, statuses, categories, regions with their own postcode areas, incomes
with the long tail of real registers, registration dates and a few source columns with
no core field (kept in `extra`).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal

EXTRA_COLUMNS = ("charity_type", "trustees", "telephone")

PLACES = (
    "Oxford",
    "Cambridge",
    "Bristol",
    "Leeds",
    "York",
    "Norwich",
    "Exeter",
    "Bath",
    "Durham",
    "Chester",
    "Brighton",
    "Hove",
    "Reading",
    "Luton",
    "Derby",
    "Leicester",
    "Nottingham",
    "Sheffield",
    "Hull",
    "Lincoln",
    "Ipswich",
    "Colchester",
    "Canterbury",
    "Dover",
    "Plymouth",
    "Truro",
    "Swindon",
    "Gloucester",
    "Worcester",
    "Hereford",
    "Shrewsbury",
    "Stafford",
    "Coventry",
    "Birmingham",
    "Wolverhampton",
    "Manchester",
    "Salford",
    "Liverpool",
    "Preston",
    "Lancaster",
    "Carlisle",
    "Kendal",
    "Newcastle",
    "Sunderland",
    "Darlington",
    "Whitby",
    "Scarborough",
    "Harrogate",
    "Bradford",
    "Halifax",
    "Cardiff",
    "Swansea",
    "Newport",
    "Wrexham",
    "Bangor",
    "Aberystwyth",
    "Camden",
    "Hackney",
    "Islington",
    "Lambeth",
    "Southwark",
    "Greenwich",
    "Croydon",
    "Bromley",
    "Ealing",
    "Richmond",
    "Kingston",
    "Harrow",
    "Barnet",
    "Enfield",
    "Haringey",
    "Lewisham",
)
SAINTS = (
    "Mary",
    "John",
    "Peter",
    "Paul",
    "Andrew",
    "Michael",
    "George",
    "Margaret",
    "Luke",
    "Mark",
    "James",
    "Stephen",
    "Nicholas",
    "Anne",
    "Catherine",
    "Bartholomew",
)
SURNAMES = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Patel",
    "Khan",
    "Hughes",
    "Edwards",
    "Lewis",
    "Harrison",
    "Baker",
    "Morgan",
    "Cooper",
    "Ward",
    "Singh",
    "Shaw",
)
CAUSES = (
    "Community",
    "Youth",
    "Heritage",
    "Arts",
    "Music",
    "Sports",
    "Wildlife",
    "Hospice",
    "Housing",
    "Education",
    "Carers",
    "Mental Health",
    "Cancer Support",
    "Foodbank",
    "Refugee Support",
    "Disability",
    "Older People's",
    "Family Support",
    "Environmental",
    "Playgroup",
    "Theatre",
    "Rowing",
    "Allotment",
    "Library",
)
KINDS = (
    "Trust",
    "Foundation",
    "Association",
    "Society",
    "Fund",
    "Centre",
    "Network",
    "Project",
    "Appeal",
    "Club",
    "Partnership",
    "Forum",
)
PATTERNS = (
    "{place} {cause} {kind}",
    "{place} {cause} {kind}",
    "The {surname} {kind}",
    "Friends of {place} {building}",
    "St {saint}'s Church {place}",
    "{place} {cause} Group",
    "{surname} Family Charitable {kind}",
    "{place} and District {cause} {kind}",
    "The {place} {building} {kind}",
    "{cause} {kind} of {place}",
)
BUILDINGS = (
    "Park",
    "Museum",
    "Library",
    "Hospital",
    "Cathedral",
    "Almshouses",
    "Village Hall",
    "Lido",
    "Observatory",
    "Botanic Garden",
    "Playing Fields",
)

STATUSES = (("registered", 86), ("removed", 10), ("suspended", 1), ("merged", 2), ("dissolved", 1))
CATEGORIES = (
    ("General charitable purposes", 20),
    ("Education/training", 16),
    ("Relief of poverty", 11),
    ("Health and saving of lives", 10),
    ("Religious activities", 9),
    ("Arts, culture, heritage and science", 8),
    ("Amateur sport", 5),
    ("Environment and conservation", 4),
    ("Disability", 4),
    ("Economic and community development", 4),
    ("Accommodation and housing", 3),
    ("Animals", 2),
    ("Overseas aid", 2),
    ("Human rights and equality", 1),
    ("Armed forces and emergency services", 1),
)
REGIONS = (
    ("London", 18, ("E", "N", "NW", "SE", "SW", "W", "WC", "EC")),
    ("South East", 15, ("BN", "GU", "RG", "OX", "ME", "CT", "TN", "MK")),
    ("South West", 10, ("BS", "BA", "EX", "PL", "TR", "GL", "SN", "TQ")),
    ("East of England", 10, ("CB", "NR", "IP", "CO", "LU", "SG", "CM", "PE")),
    ("West Midlands", 9, ("B", "CV", "WV", "WS", "DY", "ST", "WR", "HR")),
    ("East Midlands", 8, ("NG", "DE", "LE", "LN", "NN")),
    ("Yorkshire and the Humber", 9, ("LS", "YO", "S", "HU", "BD", "HX", "HG", "DN")),
    ("North West", 11, ("M", "L", "PR", "LA", "CA", "WA", "BL", "CH")),
    ("North East", 4, ("NE", "SR", "DL", "DH", "TS")),
    ("Wales", 6, ("CF", "SA", "NP", "LL", "SY")),
)
CHARITY_TYPES = (("Trust", 45), ("Charitable company", 30), ("CIO", 20), ("Other", 5))
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters UK postcodes use in their inward code


def _weighted(rng: random.Random, options):
    values = [option[0] for option in options]
    weights = [option[1] for option in options]
    cumulative = []
    total = 0
    for weight in weights:
        total += weight
        cumulative.append(total)
    return lambda: rng.choices(values, cum_weights=cumulative)[0]


def demo_rows(n: int, *, seed: int = 42, start: int = 0) -> Iterator[dict]:
    """Yield `n` register rows as {field: value}, the same ones for the same seed."""
    rng = random.Random(seed)
    status = _weighted(rng, STATUSES)
    category = _weighted(rng, CATEGORIES)
    region = _weighted(rng, [(r[0], r[1]) for r in REGIONS])
    charity_type = _weighted(rng, CHARITY_TYPES)
    areas = {r[0]: r[2] for r in REGIONS}
    first_day = dt.date(1961, 1, 1).toordinal()
    last_day = dt.date(2025, 12, 31).toordinal()
    random_ = rng.random
    choice = rng.choice

    for i in range(start, start + n):
        name = choice(PATTERNS).format(
            place=choice(PLACES),
            cause=choice(CAUSES),
            kind=choice(KINDS),
            surname=choice(SURNAMES),
            saint=choice(SAINTS),
            building=choice(BUILDINGS),
        )
        where = region()
        postcode = (
            f"{choice(areas[where])}{rng.randint(1, 29)} "
            f"{rng.randint(0, 9)}{choice(LETTERS)}{choice(LETTERS)}"
        )
        # Real registers: most charities are tiny, a few are enormous.
        income = None if random_() < 0.04 else Decimal(round(rng.lognormvariate(9.8, 2.1), 2))
        registered_on = (
            None if random_() < 0.02 else dt.date.fromordinal(rng.randint(first_day, last_day))
        )
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:40]
        yield {
            "reference": f"GB-CHC-{1_000_000 + i}",
            "name": name,
            "status": status(),
            "category": category(),
            "region": where,
            "postcode": postcode,
            "income": income.quantize(Decimal("0.01")) if income is not None else None,
            "registered_on": registered_on,
            "website": f"https://www.{slug}.org.uk" if random_() < 0.55 else "",
            "extra": {
                "charity_type": charity_type(),
                "trustees": str(rng.randint(3, 15)),
                "telephone": f"0{rng.randint(1100, 2099)} {rng.randint(100000, 999999)}",
            },
        }
