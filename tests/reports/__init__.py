"""Statistics, the Excel report, coverage, the dashboard (and its phone-width browser test)."""
