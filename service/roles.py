"""The stable role keys (API.md) and the city districts."""

import os
from collections.abc import Mapping

ROLES = frozenset({
    "enhetschef_utforare", "socialsekreterare", "forste_socialsekreterare", "mottag", "socialjouren",
    "myndighet", "enhetschef_myndighet", "verksamhetschef_myndighet", "verksamhetschef_korttidsboende_vuxna",
    "enhetschef_korttidshem_barn", "bistandshandlaggare", "mottagningsfunktionen", "utforare", "mottagare",
    "eku", "utvecklingsledare_formedling_bmss", "enhetschef_bmss", "enhetschef_fastighet",
    "enhetschef_utforaravdelning", "verksamhetschef_utforaravdelning", "verksamhetschef_personligt_stod",
    "enhetschef_bemanning", "verksamhetschef_halso_sjukvard", "fast_vardkontakt",
    "verksamhetschef_korttidsvistelse_barn",
    "processagare", "chef", "auditor", "admin",
    "extern_arbetare",  # an external-task worker (a program): locks and completes service tasks, reads no cases
})

#: Roles that operate or audit the service, or are programs: a lane never hands them tasks (they do not
#: work cases).
NOT_LANE_ROLES = frozenset({"admin", "auditor", "extern_arbetare"})
LANE_ROLES = ROLES - NOT_LANE_ROLES

#: Each role's name in Swedish, as the pages show it (the keys are API.md's).
ROLE_LABELS = {
    "enhetschef_utforare": "Enhetschef utförare", "socialsekreterare": "Socialsekreterare",
    "forste_socialsekreterare": "1:e socialsekreterare", "mottag": "Mottag", "socialjouren": "Socialjouren",
    "myndighet": "Myndighet", "enhetschef_myndighet": "Enhetschef myndighet",
    "verksamhetschef_myndighet": "Verksamhetschef myndighet",
    "verksamhetschef_korttidsboende_vuxna": "Verksamhetschef korttidsboende vuxna",
    "enhetschef_korttidshem_barn": "Enhetschef korttidshem barn", "bistandshandlaggare": "Biståndshandläggare",
    "mottagningsfunktionen": "Mottagningsfunktionen", "utforare": "Utförare", "mottagare": "Mottagare",
    "eku": "EKU", "utvecklingsledare_formedling_bmss": "Utvecklingsledare förmedling BmSS",
    "enhetschef_bmss": "Enhetschef BmSS", "enhetschef_fastighet": "Enhetschef fastighet",
    "enhetschef_utforaravdelning": "Enhetschef utföraravdelning",
    "verksamhetschef_utforaravdelning": "Verksamhetschef utföraravdelning",
    "verksamhetschef_personligt_stod": "Verksamhetschef personligt stöd",
    "enhetschef_bemanning": "Enhetschef bemanning",
    "verksamhetschef_halso_sjukvard": "Verksamhetschef hälso- och sjukvård",
    "fast_vardkontakt": "Fast vårdkontakt",
    "verksamhetschef_korttidsvistelse_barn": "Verksamhetschef korttidsvistelse barn",
    "processagare": "Processägare", "chef": "Chef", "auditor": "Granskare", "admin": "Administratör",
    "extern_arbetare": "Externt program (externa uppgifter)",
}

#: Göteborg's stadsområden: the districts unless ``SAMVERKAN_DISTRICTS`` says otherwise.
GOTEBORG_DISTRICTS = frozenset({"Centrum", "Hisingen", "Nordost", "Sydväst"})


def configured_districts(env: Mapping[str, str] | None = None) -> frozenset[str]:
    """The municipality's districts: ``SAMVERKAN_DISTRICTS``, comma-separated — empty for a
    municipality without districts (Staffanstorp), whose forms then offer none — else Göteborg's."""
    raw = (os.environ if env is None else env).get("SAMVERKAN_DISTRICTS")
    if raw is None:
        return GOTEBORG_DISTRICTS
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


DISTRICTS = configured_districts()
