"""Budskab's common library: contracts, messaging, storage, HTTP and auth plumbing."""
