"""Pages: inbox."""
