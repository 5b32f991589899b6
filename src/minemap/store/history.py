"""Keep the history of hazards, releases and baselines: one appended row per change.

Hazards and releases are created, updated, reviewed and deleted; baselines are created,
updated and withdrawn.
"""

from datetime import datetime

from sqlalchemy import Connection, Subquery, Table, column, select, text

from minemap.db.models import HistoryEvent, Organisation
from minemap.store.tokens import Principal
from minemap.vocab import HistoryAction


def logged(action: HistoryAction, *, prior: bool, geometry: bool = True) -> str:
    """Return the CTE `logged`, appending a history row for each row of the CTE `written`.

    `written` holds the rows as the statement left them (RETURNING *); with `prior`, the CTE
    `prior` holds the same rows as they were, joined by id, for the before snapshot. A delete
    keeps no after snapshot (a withdrawal does: the record stays as it was left). Snapshots
    hold the geometry as GeoJSON, or, without `geometry` (baselines), the row as it is. The
    statement binds what `params` returns.
    """
    snapshot = "minemap_snapshot(to_jsonb({}))" if geometry else "to_jsonb({})"
    before = snapshot.format("prior") if prior else "CAST(NULL AS jsonb)"
    after = ("CAST(NULL AS jsonb)" if action is HistoryAction.delete
             else snapshot.format("written"))
    source = "written JOIN prior USING (id)" if prior else "written"
    # A change is timed when it is made, after the row lock it waited for, not when its
    # transaction began: a record's versions are then in time order too, which `state_at` needs.
    at = "clock_timestamp()" if prior else "now()"
    return f"""logged AS (
    INSERT INTO history (entity, entity_id, action, version, token_id, actor, organisation_id,
                         reason, before, after, at)
    SELECT CAST(:entity AS text), written.id, CAST('{action.value}' AS history_action),
           written.version, CAST(:token_id AS integer), CAST(:actor AS text),
           CAST(:actor_organisation_id AS integer), CAST(:reason AS text), {before}, {after},
           {at}
    FROM {source})"""


def params(entity: str, actor: Principal, reason: str | None = None) -> dict:
    """Return the values `logged` binds: the entity ('hazard', 'release' or 'baseline') and
    who acted."""
    return {"entity": entity, "token_id": actor.token_id, "actor": actor.name,
            "actor_organisation_id": actor.organisation_id, "reason": reason}


def entries(conn: Connection, entity: str, entity_id: int) -> list[dict]:
    """Return the history of one hazard, release or baseline, oldest first (deleted and
    withdrawn ones included)."""
    h, o = HistoryEvent.__table__, Organisation.__table__
    rows = conn.execute(
        select(h.c.id, h.c.action, h.c.version, h.c.at, h.c.actor, h.c.token_id,
               o.c.name.label("organisation"), h.c.reason, h.c.before, h.c.after)
        .select_from(h.outerjoin(o, o.c.id == h.c.organisation_id))
        .where(h.c.entity == entity, h.c.entity_id == entity_id)
        .order_by(h.c.id)
    )
    return [dict(row._mapping) for row in rows]


def state_at(table: Table, entity: str, entity_id: int, at: datetime) -> Subquery:
    """Return a subquery shaped like `table` holding the record as history says it was at `at`.

    That is the `after` snapshot of its latest history row up to `at`: no row before it was
    created or once it was deleted (a delete keeps no after snapshot).
    """
    # The snapshot keeps the geometry as GeoJSON; the row type wants it back as geometry,
    # whose input function reads hex EWKB.
    names = ", ".join(f"r.{c.name}" for c in table.c)  # by name: the ORM's order may differ
    query = text(f"""
SELECT {names}
FROM (SELECT after FROM history
      WHERE entity = :entity AND entity_id = :entity_id AND at <= :at
      ORDER BY at DESC, id DESC LIMIT 1) AS h,
     jsonb_populate_record(NULL::{table.name}, h.after || jsonb_build_object('geom',
        encode(ST_AsEWKB(ST_SetSRID(ST_GeomFromGeoJSON(h.after -> 'geometry'), 4326)), 'hex')))
        AS r
WHERE h.after IS NOT NULL""").bindparams(entity=entity, entity_id=entity_id, at=at)
    return query.columns(*(column(c.name, c.type) for c in table.c)).subquery("snapshot")
