"""Organisations: the authority's own units, providers, the region, other förvaltningar and EKU.

Every user belongs to one. Whether a task is offered to someone, and what of a case they see,
depends on the kind of their organisation (``service/access/``): nothing of a case crosses to
another organisation without a task that names it or a recorded hand-over.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, StrEnumType


class OrganisationKind(StrEnum):
    MYNDIGHET = "myndighet"  # the authority (decides on support); its case workers read its cases
    UTFORARE = "utforare"  # a provider, municipal or private
    REGION = "region"  # the region's health care
    ANNAN_FORVALTNING = "annan_forvaltning"  # another förvaltning: another committee, another secrecy regime
    EKU = "eku"  # contract follow-up: de-identified, provider-level facts only


#: The organisation users belong to unless they are given another (``samverkan users add``).
DEFAULT_ORGANISATION = "myndighet"


class Organisation(Base):
    __tablename__ = "organisation"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrganisationKind] = mapped_column(StrEnumType(OrganisationKind))
    created_at: Mapped[datetime]
