"""The only package that imports SpiffWorkflow.

``specs`` parses and validates diagrams, ``timers`` and ``sandbox`` replace the library's clock and
``eval``, ``serializer`` stores workflows without their specs, and ``adapter`` runs commands on a
workflow and reports what changed.
"""
