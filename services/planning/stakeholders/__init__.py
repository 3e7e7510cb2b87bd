"""Stakeholders."""
