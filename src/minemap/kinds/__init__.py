"""The kinds of record minemap holds, each declared once (see kinds.spec).

Adding a kind: a module here declaring its KindSpec, listed in KINDS, its ORM class in
db/models.py, and a migration creating its table (docs/architecture.md).
"""

from enum import StrEnum

from minemap.kinds.hazards import HAZARDS
from minemap.kinds.releases import RELEASES
from minemap.kinds.spec import Derived, Field, KindSpec

KINDS: dict[str, KindSpec] = {spec.name: spec for spec in (HAZARDS, RELEASES)}

# The kinds by name, for the CLI's choices and the import form.
Kind = StrEnum("Kind", {name: name for name in KINDS})


__all__ = ["HAZARDS", "KINDS", "RELEASES", "Derived", "Field", "Kind", "KindSpec"]
