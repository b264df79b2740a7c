"""Fan-out of committed revisions between server processes."""
