"""The IMAS vocabulary, spelled as in the contract and mirrored by PostgreSQL enum types."""

from datetime import date
from enum import StrEnum

# No survey, release or report date lies before this: earlier ones are typing errors.
EARLIEST_DATE = date(1900, 1, 1)


class Classification(StrEnum):
    SHA = "SHA"  # suspected hazardous area: indirect evidence
    CHA = "CHA"  # confirmed hazardous area: direct evidence


class HazardType(StrEnum):
    AP = "AP"
    AT = "AT"
    UXO = "UXO"
    AXO = "AXO"
    CMR = "CMR"
    IED = "IED"


class ReleaseMethod(StrEnum):
    cancelled = "cancelled"  # non-technical survey
    reduced = "reduced"  # technical survey
    cleared = "cleared"  # clearance


class LandUse(StrEnum):
    agriculture = "agriculture"
    housing = "housing"
    transport = "transport"
    energy = "energy"
    water = "water"
    environment = "environment"
    other = "other"


class Role(StrEnum):
    admin = "admin"
    reviewer = "reviewer"
    operator = "operator"
    viewer = "viewer"


class Review(StrEnum):
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"


class HistoryAction(StrEnum):
    create = "create"
    update = "update"
    review = "review"
    delete = "delete"
    withdraw = "withdraw"  # a baseline no longer used by reports, and kept


# Device counts a release records, in the order reports list them.
DEVICES = {"ap_mines": "Anti-personnel mines", "at_mines": "Anti-tank mines",
           "uxo": "Unexploded ordnance", "cmr": "Cluster munition remnants",
           "ied": "Improvised explosive devices"}
DEVICE_FIELDS = tuple(DEVICES)
