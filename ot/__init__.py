"""OT engine."""
