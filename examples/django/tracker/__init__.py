"""The academic events tracker: events, people, topics, organisations."""
