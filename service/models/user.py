"""Local accounts and API tokens (stored hashed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .organisation import DEFAULT_ORGANISATION, Organisation


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(300), nullable=True)
    roles: Mapped[list[str]]
    districts: Mapped[list[str]]
    is_active: Mapped[bool] = mapped_column(default=True)
    # Out-of-office: while set, tasks assigned to this user go to the delegate (recorded).
    away_delegate: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime]
    organisation_key: Mapped[str] = mapped_column(
        String(100), ForeignKey("organisation.key"), default=DEFAULT_ORGANISATION, index=True)

    # Sign-in throttling (service.operations.users.sign_in): wrong passwords in a row, and the moment
    # the account opens again once they reach the limit. In the database, so every node agrees.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    # Kept in each page session's cookie; bumping it (sign-out, new password, deactivation) ends
    # every page session of the user on every node at their next request.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    organisation: Mapped[Organisation] = relationship(lazy="joined")

    @property
    def organisation_kind(self) -> str:
        """The kind of the user's organisation (``OrganisationKind``'s value), as ``Actor`` and assigning read it."""
        return self.organisation.kind.value


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship(lazy="joined")
