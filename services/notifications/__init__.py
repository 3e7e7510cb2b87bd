"""Notifications: contacts with consent, audience membership, deliveries over e-mail."""
