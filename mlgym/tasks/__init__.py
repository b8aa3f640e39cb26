"""mlgym.tasks."""
