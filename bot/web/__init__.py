"""HTTP blueprints: one per platform, plus the simulator and the dashboard."""
