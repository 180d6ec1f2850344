"""Scheduled refresh of public sources (``bif schedule``, docs/schedule.md).

``spec`` (a schedule's text → its run times; no I/O) sits on a low floor so that the contract
model can check a contract's ``refresh:`` block; everything else of the package sits between
the wings (``apps``, ``data``) and ``platform``: ``plan`` (which datasets may be refreshed and
when), ``runner`` (one refresh: fetch, validate, ingest, re-publish, record), ``history``,
``notices`` (the hub's start page), ``mail`` and ``service`` (the scheduler process).

This file imports nothing: ``bif_lib.schedule.spec`` is imported by the contract model.
"""
