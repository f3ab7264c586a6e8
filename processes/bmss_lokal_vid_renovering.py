"""Lokal vid renovering av BmSS (process key ``bmss_lokal_vid_renovering``).

R2's side rule as a routine of its own (ROUTINES.md R2): when a BmSS needs other premises because
of renovation, its unit manager (Enhetschef BmSS) starts this routine and first asks the district's
utvecklingsledare förmedling BmSS for a vacant BmSS flat. It is not a step inside an individual
case, so its task titles name the district only.
"""

from __future__ import annotations

__all__ = ["bmss_rubrik"]


def bmss_rubrik(rubrik: str, stadsomrade: str) -> str:
    """An inbox line: the step and the district (``"… vid renovering (Nordost)"``)."""
    return f"{rubrik} ({stadsomrade})"
