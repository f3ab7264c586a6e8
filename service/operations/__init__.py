"""Every state change of the service, each one transaction with an explicit actor.

The API, the staff pages, the CLI and the timer scheduler all call these functions; none of
them changes state any other way.
"""
