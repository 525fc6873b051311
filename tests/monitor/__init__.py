"""Tests of audit/monitor/: statistics, windows and segments, alert rules, the charts, the decision metrics."""
