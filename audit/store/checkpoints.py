"""The ``checkpoints`` table: signed (tree size, Merkle root, time) statements, append-only."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlite_utils

from .append_only import append_only
from .schema import register

TABLE = "checkpoints"

register(
    "checkpoints",
    1,
    "signed Merkle checkpoints",
    f"""CREATE TABLE {TABLE} (
        id INTEGER PRIMARY KEY,
        tree_size INTEGER NOT NULL,
        root_hash TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        key_id TEXT NOT NULL,
        public_key TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
    *append_only(TABLE),
)


@dataclass(frozen=True)
class Checkpoint:
    id: int | None
    tree_size: int
    root_hash: str
    signed_at: str
    key_id: str
    public_key: str  # raw 32-byte Ed25519 public key, hex
    signature: str  # hex

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CheckpointRepository:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def exists(self) -> bool:
        return self.db[TABLE].exists()

    def add(self, checkpoint: Checkpoint) -> Checkpoint:
        row = checkpoint.to_dict()
        row.pop("id")
        cursor = self.db.execute(
            f"INSERT INTO {TABLE} (tree_size, root_hash, signed_at, key_id, public_key, signature) VALUES (?, ?, ?, ?, ?, ?)",
            list(row.values()),
        )
        return Checkpoint(int(cursor.lastrowid), **row)

    def all(self) -> list[Checkpoint]:
        if not self.exists():
            return []
        rows = self.db.execute(
            f"SELECT id, tree_size, root_hash, signed_at, key_id, public_key, signature FROM {TABLE} ORDER BY id"
        ).fetchall()
        return [Checkpoint(*row) for row in rows]

    def latest(self) -> Checkpoint | None:
        found = self.all()
        return found[-1] if found else None

    def key_ids(self) -> set[str]:
        if not self.exists():
            return set()
        return {row[0] for row in self.db.execute(f"SELECT DISTINCT key_id FROM {TABLE}")}
