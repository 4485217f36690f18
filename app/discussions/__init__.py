"""Discussion threads on agreements and deliverables, approving from the e-mail, verifying a copy."""
