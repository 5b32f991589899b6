"""Pydantic models of a kind's properties, built from its spec: they validate and document.

Each field's parser (kinds.values) runs before pydantic checks the declared type and bounds,
so a client's or a field file's leniencies (enums in any case, lists as text) are accepted
as they always were, and a refused value names the same problem code and reason.
"""

from functools import cache
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model
from pydantic import Field as Documented
from pydantic_core import PydanticCustomError

from minemap.errors import Problem
from minemap.kinds import KINDS, values
from minemap.kinds.spec import Field


def _parser(spec: Field):
    def parse(value):
        try:
            return spec.parse(spec.name, value)
        except values.Bad as bad:
            # The reason goes in the context: the message template would read its braces.
            raise PydanticCustomError(bad.code, "{reason}", {"reason": bad.reason}) from None
    return BeforeValidator(parse)


@cache
def properties(kind: str, *, partial: bool = False) -> type[BaseModel]:
    """Return the model of a kind's properties; with `partial` (a PATCH) every field optional.

    Absent values (None, "", NaN) are left out before validating: geo.fields settles them.
    """
    fields = {}
    for spec in KINDS[kind].fields:
        required = spec.required and not partial
        # A count absent is 0, never null; in a PATCH every field may be left out.
        annotation = spec.type if required or (spec.default is not None and not partial) \
            else spec.type | None
        default = ... if required else (None if partial else spec.default)
        said = spec.description + ("; not in the future" if spec.not_future else "")
        fields[spec.name] = (Annotated[annotation, _parser(spec)],
                             Documented(default, description=said, **spec.bounds))
    name = "".join(part.title() for part in KINDS[kind].entity.split("_"))
    # Unknown properties are ignored with a warning (geo.fields), not refused.
    return create_model(f"{name}{'Patch' if partial else ''}Properties",
                        __config__=ConfigDict(extra="ignore"), **fields)


def problems_of(error: ValidationError, index: int) -> list[tuple[str, Problem]]:
    """Return a ValidationError of `properties` as (field, problem) pairs, the problems
    imports have always named."""
    found = []
    for detail in error.errors(include_url=False):
        name = str(detail["loc"][0])
        if detail["type"] == "missing":
            problem = Problem(index, "missing_property", f"{name} is required")
        elif "reason" in (detail.get("ctx") or {}):
            problem = Problem(index, detail["type"], detail["ctx"]["reason"])
        else:
            problem = Problem(index, "invalid_value", f"{name}: {detail['msg']}")
        found.append((name, problem))
    return found
