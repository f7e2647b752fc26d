"""user events outbox

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tradewire.storage.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_events",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "seq", name=op.f("pk_user_events")),
    )
    op.create_index("ix_user_events_created_at", "user_events", ["created_at"])
    op.create_table(
        "user_event_heads",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.String(length=16), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_event_heads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_event_heads")),
    )


def downgrade() -> None:
    op.drop_table("user_event_heads")
    op.drop_index("ix_user_events_created_at", table_name="user_events")
    op.drop_table("user_events")
