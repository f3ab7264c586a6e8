"""Pages: tasks."""
