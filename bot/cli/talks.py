"""`lianxin rotate-notes-key`: re-encrypt every talk note under the newest key (issue 4).

Procedure (cryptography's advice for MultiFernet): generate a new key, put it first in
LIANXIN_NOTES_KEYS ("new,old"), run this command, then remove the old key from the environment.
Rows are read and written as raw Fernet tokens (never decrypted to text in bulk), keyset-paged by
id and committed per batch, so the command can be interrupted and run again: tokens already
under the newest key are left alone.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import click
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine, Text, bindparam, select, type_coerce, update

__all__ = ["RotationReport", "register", "rotate_notes"]



def note_columns() -> dict[str, tuple[str, ...]]:
    """Every table and column encrypted with the notes keys: talks, versions, cases, outbox."""
    from models import Base
    from models.crypto import encrypted_columns

    return encrypted_columns(Base.metadata)


@dataclass
class RotationReport:
    rows: dict[str, int] = field(default_factory=dict)          # rows re-written per table
    values: dict[str, int] = field(default_factory=dict)        # tokens re-encrypted per table
    current: dict[str, int] = field(default_factory=dict)       # tokens already under the newest key

    def summary(self) -> str:
        lines = ["加密内容密钥轮换完成："]
        for table in self.rows:
            lines.append(f"  {table}: 重写 {self.rows.get(table, 0)} 行，重新加密 {self.values.get(table, 0)} 项，"
                         f"已是新密钥 {self.current.get(table, 0)} 项")
        return "\n".join(lines)


def _keys(raw: str) -> list[bytes]:
    return [k.strip().encode() for k in raw.split(",") if k.strip()]


def rotate_notes(engine: Engine, keys: list[bytes], batch_size: int = 500) -> RotationReport:
    """Re-encrypt every encrypted column (talks, cases, outbox) under keys[0]; raises InvalidToken if a row fits no key."""
    from models import Base

    if not keys:
        raise click.ClickException("LIANXIN_NOTES_KEYS is empty")
    primary = Fernet(keys[0])
    multi = MultiFernet([Fernet(k) for k in keys])
    report = RotationReport()
    for table_name, columns in note_columns().items():
        table = Base.metadata.tables[table_name]
        raw_cols = [type_coerce(table.c[c], Text).label(c) for c in columns]
        stmt_update = (update(table).where(table.c.id == bindparam("_id"))
                       .values({c: bindparam(f"_{c}", type_=Text) for c in columns}))
        last_id = 0
        rows_done = values_done = current = 0
        while True:
            with engine.begin() as conn:
                batch = conn.execute(select(table.c.id, *raw_cols).where(table.c.id > last_id)
                                     .order_by(table.c.id).limit(batch_size)).all()
                if not batch:
                    break
                params = []
                for row in batch:
                    new = {"_id": row.id}
                    changed = False
                    for c in columns:
                        token = getattr(row, c)
                        if token is None:
                            new[f"_{c}"] = None
                            continue
                        try:
                            primary.decrypt(token.encode("ascii"))
                            new[f"_{c}"] = token            # already under the newest key
                            current += 1
                        except InvalidToken:
                            new[f"_{c}"] = multi.rotate(token.encode("ascii")).decode("ascii")
                            values_done += 1
                            changed = True
                    if changed:
                        params.append(new)
                if params:
                    conn.execute(stmt_update, params)
                    rows_done += len(params)
                last_id = batch[-1].id
        report.rows[table_name] = rows_done
        report.values[table_name] = values_done
        report.current[table_name] = current
    return report


def register(cli: click.Group) -> None:
    @cli.command("rotate-notes-key")
    @click.option("--batch-size", default=500, show_default=True, type=int, help="rows per transaction")
    @click.pass_obj
    def rotate_notes_key(obj, batch_size: int) -> None:
        """用新密钥重新加密全部谈话内容（LIANXIN_NOTES_KEYS="新密钥,旧密钥"）。"""
        from models.db import make_engine

        config = obj.config
        env_name = config.get("security.notes_keys_env", str)
        keys = _keys(os.environ.get(env_name, ""))
        if len(keys) < 1:
            raise click.ClickException(f"请先设置 {env_name}=\"新密钥,旧密钥\"（新密钥在前）。")
        try:
            MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError):
            raise click.ClickException(f"{env_name} 中有格式不正确的密钥（应为 Fernet 密钥）。") from None
        if len(keys) == 1:
            click.echo("提示：只配置了一个密钥，只会检查并重写不是该密钥加密的内容。")
        engine = make_engine(config.database_url)
        started = time.perf_counter()
        try:
            report = rotate_notes(engine, keys, batch_size=batch_size)
        except InvalidToken:
            raise click.ClickException(f"有谈话内容无法用 {env_name} 中的任何密钥解密：请把旧密钥也放进去（新密钥在前）。"
                                       "已处理的批次已保存，可修正后重新运行。") from None
        finally:
            engine.dispose()
        click.echo(report.summary())
        click.echo(f"用时 {time.perf_counter() - started:.2f} 秒。确认无误后即可从 {env_name} 中删除旧密钥。")
