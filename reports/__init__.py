"""Reports: numbers about a unit's subtree (queries) and their Chinese presentation (render), kept apart to test each alone.

Layering: reports import models only; handlers, the scheduler, the dashboard and the CLI
import reports (tests/core/test_import_graph.py checks it).
"""
