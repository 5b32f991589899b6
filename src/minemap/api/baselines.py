"""/api/v1/baselines: the contaminated area progress is measured against."""

from datetime import date

from fastapi import APIRouter, Depends

from minemap.api.auth import Admin, Requires
from minemap.api.deps import ConnectionDep, SettingsDep
from minemap.api.schemas import BaselineIn, BaselineOut, Baselines
from minemap.store import baselines

router = APIRouter(prefix="/baselines", tags=["baselines"])


@router.get("", dependencies=[Depends(Requires())])
def list_baselines(conn: ConnectionDep, settings: SettingsDep) -> Baselines:
    """List the stored baselines, and the national default the settings give."""
    default = BaselineOut(id=None, label="national default", as_of=settings.baseline_date,
                          area_km2=settings.baseline_km2, district=None, iso_3166_2=None)
    return Baselines(default=default, baselines=baselines.all_(conn))


@router.post("", status_code=201)
def create_baseline(actor: Admin, body: BaselineIn, conn: ConnectionDep) -> BaselineOut:
    """Add a baseline, national or for one district (admins only)."""
    new_id = baselines.create(conn, **body.model_dump(), today=date.today())
    return BaselineOut(**baselines.one(conn, new_id))
