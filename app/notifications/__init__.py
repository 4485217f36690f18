"""Reminders and notifications: in-app notices, the mail outbox, reminder rules, calendar feeds."""
