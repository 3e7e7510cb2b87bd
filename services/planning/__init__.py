"""Planning: plans with their audiences, messages, channels and activities, and approval."""
