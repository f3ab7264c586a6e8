"""Pages: editor."""
