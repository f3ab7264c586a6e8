"""Pages: instances."""
