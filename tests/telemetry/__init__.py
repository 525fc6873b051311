"""Tests of audit/telemetry/: OpenTelemetry export received by an in-process OTLP/HTTP receiver."""
