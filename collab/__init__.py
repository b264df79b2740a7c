"""Collaboration server."""
