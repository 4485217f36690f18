"""Choices of a drop-down that grows with the portfolio: listed whole while few, searched as typed past that.

`kinds.py` says, once per kind of choice, which rows a person may choose (the permission module's
clauses), how typed words narrow them, their order and their label; `fill` (forms), the portfolio
filters and the JSON endpoint (`routes.py`, ``GET /choices/<kind>``) all read it, so what a page
lists, what the endpoint finds and what a submitted form accepts are the same set.
"""
