"""Who is acting: a signed-in user, a token holder, or the service itself (timers)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Roles that oversee without access to individual cases: they get de-identified projections only.
NO_CASE_ACCESS_ROLES = frozenset({"eku"})
OPERATOR_ROLES = frozenset({"admin", "auditor", "processagare"})


@dataclass(frozen=True)
class Actor:
    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    districts: frozenset[str] = field(default_factory=frozenset)
    display_name: str = ""
    is_system: bool = False

    def has(self, *roles: str) -> bool:
        return self.is_system or bool(self.roles & set(roles))

    @property
    def has_case_access(self) -> bool:
        """False for roles that may only see de-identified facts (EKU) or only operate the service."""
        if self.is_system:
            return True
        case_roles = self.roles - NO_CASE_ACCESS_ROLES - OPERATOR_ROLES
        return bool(case_roles)

    def shares_district(self, districts: set[str] | list[str] | None) -> bool:
        return not districts or bool(self.districts & set(districts))


SYSTEM = Actor("system", is_system=True, display_name="Samverkan")
