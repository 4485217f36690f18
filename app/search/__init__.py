"""One search over agreements, organisations, deliverables and documents (the top bar's box)."""
