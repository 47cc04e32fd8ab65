"""Generated object names: `<base>-<5 random characters>`, as controllers name their pods.

Used by the replication controller when it turns `ReplicaPlan.create` into pods
(`web` -> `web-vtxdz`, as the seed shows). Mirrors apiserver's
names.SimpleNameGenerator (a prefix truncated to leave room for the suffix) and
k8s.io/apimachinery/pkg/util/rand.String (an alphabet without vowels, so no
words are spelled, and without the digits 0, 1 and 3 that read as letters).
"""

from __future__ import annotations

import random
from collections.abc import Container

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
RANDOM_LENGTH = 5
MAX_NAME_LENGTH = 63
MAX_GENERATED_PREFIX = MAX_NAME_LENGTH - RANDOM_LENGTH

_system_random = random.SystemRandom()


def random_suffix(rand: random.Random | None = None, length: int = RANDOM_LENGTH) -> str:
    """`length` characters from ALPHABET."""
    r = rand or _system_random
    return "".join(r.choice(ALPHABET) for _ in range(length))


def generate_name(base: str, rand: random.Random | None = None) -> str:
    """`<base>-<5 characters>`, the prefix cut so the whole stays within 63 characters.

    `base` is the owner's name; the `-` is part of the prefix, as in a controller's
    generateName, so a 58-character base loses its dash before any of its own letters.
    """
    prefix = f"{base}-"[:MAX_GENERATED_PREFIX]
    return prefix + random_suffix(rand)


def generate_names(
    base: str, count: int, taken: Container[str] = (), rand: random.Random | None = None
) -> list[str]:
    """`count` distinct generated names, none of them in `taken`.

    The API server retries a generated name that collides; we draw again instead,
    so the names a controller expects are the names it will create.
    """
    names: list[str] = []
    while len(names) < count:
        name = generate_name(base, rand)
        if name not in taken and name not in names:
            names.append(name)
    return names
