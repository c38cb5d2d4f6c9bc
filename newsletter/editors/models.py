from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class Editor(Base):
    __tablename__ = "editors"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # A login session remembers the value it began with; logout and a new password
    # move it on, so every older session (and a copied cookie) ends.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
