"""Durable storage behind a small interface."""
