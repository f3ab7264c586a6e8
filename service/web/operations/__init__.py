"""Pages: the operations console (admin) and the audit log (auditor)."""
