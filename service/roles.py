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
