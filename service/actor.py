"""Who is acting: a signed-in user, a token holder, or the service itself (timers)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Roles that oversee without access to individual cases: they get de-identified projections only.
NO_CASE_ACCESS_ROLES = frozenset({"eku"})
OPERATOR_ROLES = frozenset({"admin", "auditor", "processagare", "extern_arbetare"})
#: Kinds of organisation that are the administration's own units: offered tasks that name no organisation.
INTERNAL_KINDS = frozenset({"myndighet", "eku"})


@dataclass(frozen=True)
class Actor:
    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    districts: frozenset[str] = field(default_factory=frozenset)
    display_name: str = ""
    is_system: bool = False
    organisation: str = "myndighet"  # the key of the user's organisation
    organisation_kind: str = "myndighet"  # its kind (``OrganisationKind`` value)

    def has(self, *roles: str) -> bool:
        return self.is_system or bool(self.roles & set(roles))

    @property
    def has_case_access(self) -> bool:
        """May read whole cases they have access to: the authority's case workers (not EKU, not operators)."""
        if self.is_system:
            return True
        case_roles = self.roles - NO_CASE_ACCESS_ROLES - OPERATOR_ROLES
        return bool(case_roles) and self.is_authority

    @property
    def is_authority(self) -> bool:
        """Belongs to the authority (myndighet): inside its secrecy boundary, only inre sekretess applies."""
        return self.is_system or self.organisation_kind == "myndighet"

    @property
    def is_internal(self) -> bool:
        """Belongs to the administration's own units (the authority or EKU)."""
        return self.is_system or self.organisation_kind in INTERNAL_KINDS

    def shares_district(self, districts: set[str] | list[str] | None) -> bool:
        return not districts or bool(self.districts & set(districts))


SYSTEM = Actor("system", is_system=True, display_name="Samverkan")
