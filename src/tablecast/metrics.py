"""What ``/metrics`` reports, in Prometheus text format (``prometheus_client``).

Counters on the hot paths (bytes to and from every viewer) are plain integers bumped inline,
and read only when Prometheus scrapes: a ``prometheus_client`` Counter takes a lock per
increment, which ten thousand sends per page turn would pay for nothing. Histograms, observed
once per fan-out or upload, use the library's own. docs/operations.md says what to alert on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .model import Usage

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Gauges:
    """What is true at the moment of a scrape, gathered by the caller."""

    viewers: int
    open_documents: int
    uploads_in_progress: int
    usage: Usage


class Metrics(Collector):
    def __init__(self) -> None:
        self.bytes_in = 0  # WebSocket frames and HTTP upload bodies received
        self.bytes_inflated = 0  # what compressed WebSocket messages decompressed to
        self.bytes_out = 0  # WebSocket messages queued for viewers
        self.messages_out = 0
        self.errors: Counter[str] = Counter()  # typed errors answered, by code
        self.uploads: Counter[str] = Counter()  # ended uploads: committed or rolled_back
        self.connections = 0  # WebSockets opened since start
        # in a cluster: which node (and worker) this is, what it heard from the others
        self.node = 0
        self.worker = 0
        self.bus_events: Counter[str] = Counter()  # by kind: version, turn, viewers, progress
        self.bus_reconnects = 0
        self.gauges: Gauges | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.fan_out_seconds = Histogram(
            "tablecast_fan_out_seconds",
            "From a page turn or new version to its page queued for every viewer",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.upload_seconds = Histogram(
            "tablecast_upload_seconds",
            "From an upload's start to its version committed",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.registry.register(self)

    def error(self, code: str) -> None:
        self.errors[code] += 1

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield _counter("tablecast_received_bytes", "Bytes received from clients", self.bytes_in)
        yield _counter(
            "tablecast_inflated_bytes",
            "Bytes that compressed WebSocket messages from clients decompressed to",
            self.bytes_inflated,
        )
        yield _counter("tablecast_sent_bytes", "Bytes of messages sent to viewers", self.bytes_out)
        yield _counter("tablecast_sent_messages", "Messages sent to viewers", self.messages_out)
        yield _counter("tablecast_connections", "WebSockets opened", self.connections)
        errors = CounterMetricFamily(
            "tablecast_errors", "Typed errors answered, by code", labels=["code"]
        )
        for code, count in sorted(self.errors.items()):
            errors.add_metric([code], count)
        yield errors
        uploads = CounterMetricFamily(
            "tablecast_uploads", "Uploads ended, by outcome", labels=["outcome"]
        )
        for outcome in ("committed", "rolled_back"):
            uploads.add_metric([outcome], self.uploads[outcome])
        yield uploads
        if self.node:
            node = GaugeMetricFamily(
                "tablecast_node",
                "This process among the cluster's nodes",
                labels=["node", "worker"],
            )
            node.add_metric([str(self.node), str(self.worker)], 1)
            yield node
            events = CounterMetricFamily(
                "tablecast_bus_events", "Events heard from the store, by kind", labels=["kind"]
            )
            for kind in ("version", "turn", "viewers", "progress"):
                events.add_metric([kind], self.bus_events[kind])
            yield events
            yield _counter(
                "tablecast_bus_reconnects",
                "Times this node listened to the store again after losing it",
                self.bus_reconnects,
            )
        gauges = self.gauges
        if gauges is None:
            return
        yield GaugeMetricFamily("tablecast_viewers", "Open WebSockets", gauges.viewers)
        yield GaugeMetricFamily(
            "tablecast_open_documents", "Documents with viewers", gauges.open_documents
        )
        yield GaugeMetricFamily(
            "tablecast_uploads_in_progress", "Uploads in progress", gauges.uploads_in_progress
        )
        yield GaugeMetricFamily(
            "tablecast_documents", "Documents in the store", gauges.usage.documents
        )
        yield GaugeMetricFamily(
            "tablecast_stored_bytes",
            "Bytes of tables in the store, every version",
            gauges.usage.stored_bytes,
        )

    def render(self, gauges: Gauges) -> bytes:
        self.gauges = gauges
        return generate_latest(self.registry)


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


# One per process, as prometheus_client's own default registry is.
METRICS = Metrics()
