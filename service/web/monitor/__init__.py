"""Pages: monitor."""
