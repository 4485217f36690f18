"""Portfolio views: board by stage, timeline, calendar of deadlines, stage analytics."""
