"""Presentation of report numbers: chat text, dashboard tiles and chart geometry, Excel sheets (all the labels live here)."""
