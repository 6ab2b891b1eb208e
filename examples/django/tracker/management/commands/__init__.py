"""seed and change_event."""
