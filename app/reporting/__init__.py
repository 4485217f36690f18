"""Read-only views of the portfolio: the home dashboards, and the board, timeline, calendar, stage
analytics, report and budget totals. They read what the features wrote and change nothing; no other
package imports them (an import contract in pyproject.toml checks it), only the app factory
registers their blueprints."""
