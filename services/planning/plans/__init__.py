"""Plans: the plan aggregate (`model`, `parts`), the events it causes and its repository."""
