"""Metrics: read models built from every event; counts per plan today, KPIs next."""
