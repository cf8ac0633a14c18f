"""Delete exported files past `exports.keep_hours` (their bytes never outlive their purpose)."""
from __future__ import annotations

from models.export_file import purge_expired

from ..context import JobContext

__all__ = ["purge"]


def purge(job: JobContext) -> int:
    """Files whose expiry passed; idempotent, so overlapping runs are harmless."""
    with job.session_factory() as db:
        n = purge_expired(db, job.now())
        db.commit()
    return n
