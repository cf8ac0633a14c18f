"""`lianxin export-signups N FILE.xlsx`: an activity's confirmed and waitlisted people to Excel
(the operator's way; organisers send “导出报名 N” in chat and get the same file as a message)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.cli.main import Obj

__all__ = ["export_signups_xlsx", "register"]


def export_signups_xlsx(db: Session, activity_id: int, path: str, tz: str) -> tuple[int, int]:
    """Write the roster; returns (confirmed, waitlisted). Raises LookupError for a missing activity."""
    from handlers.activities import service
    from models.activity import Activity

    act = db.get(Activity, activity_id)
    if act is None:
        raise LookupError(activity_id)
    content, confirmed, waitlisted, _ = service.roster_xlsx(db, act, tz)
    Path(path).write_bytes(content)
    return confirmed, waitlisted


def register(cli: click.Group) -> None:
    if "export-signups" in cli.commands:
        return

    @cli.command("export-signups")
    @click.argument("activity_id", type=int)
    @click.argument("file", type=click.Path(dir_okay=False, writable=True))
    @click.pass_obj
    def export_signups(obj: Obj, activity_id: int, file: str) -> None:
        """Export activity ACTIVITY_ID's sign-ups (confirmed, then waitlist) to FILE.xlsx."""
        from models.db import make_engine, make_session_factory

        config = obj.config
        engine = make_engine(config.database_url)
        try:
            with make_session_factory(engine)() as db:
                confirmed, waitlisted = export_signups_xlsx(db, activity_id, file, config.timezone)
        except LookupError:
            raise click.ClickException(f"没有编号为 {activity_id} 的活动") from None
        finally:
            engine.dispose()
        click.echo(f"已导出活动 {activity_id}：已报名 {confirmed} 人，候补 {waitlisted} 人 → {file}")
