"""The audit trail's integrity: the auditors' page, and the daily anchor of the hash chain."""
