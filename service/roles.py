"""The stable role keys (API.md) and the city districts."""

ROLES = frozenset({
    "enhetschef_utforare", "socialsekreterare", "forste_socialsekreterare", "mottag", "socialjouren",
    "myndighet", "enhetschef_myndighet", "verksamhetschef_myndighet", "verksamhetschef_korttidsboende_vuxna",
    "enhetschef_korttidshem_barn", "bistandshandlaggare", "mottagningsfunktionen", "utforare", "mottagare",
    "eku", "utvecklingsledare_formedling_bmss", "enhetschef_bmss", "enhetschef_fastighet",
    "enhetschef_utforaravdelning", "verksamhetschef_utforaravdelning", "verksamhetschef_personligt_stod",
    "enhetschef_bemanning", "verksamhetschef_halso_sjukvard", "fast_vardkontakt",
    "verksamhetschef_korttidsvistelse_barn",
    "processagare", "chef", "auditor", "admin",
})

DISTRICTS = frozenset({"Centrum", "Hisingen", "Nordost", "Sydväst"})
