"""The JSON API under /api/v1: personal tokens, the same permission module and services as the pages."""
