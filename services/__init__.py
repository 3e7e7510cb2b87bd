"""The four Budskab services: planning, events, notifications, metrics."""
