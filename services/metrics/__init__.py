"""Metrics: read models built from every event: counts per plan, and KPIs measured per goal."""
