"""Observability of the live runner: Prometheus metrics (`metrics.Metrics`), the `/metrics`, `/health` and `/ready`
endpoints (`server.MetricsServer`), the container's health probe (`probe`) and the Grafana dashboard's source
(`dashboard`). The runner gets a `Metrics` object injected and calls its methods; nothing below `cli` imports this
package. See docs/operations.md for the metric list and the alerts built on it."""
