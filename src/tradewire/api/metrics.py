"""`GET /metrics`: this instance's Prometheus metrics (tradewire.metrics, plus the process and
Python runtime collectors of prometheus-client).

Each instance serves only its own counters; Prometheus scrapes every instance on its own and
tells them apart by the `instance` label (deploy/prometheus/prometheus.yml). The endpoint is
unauthenticated, like /healthz: keep it off the public internet (allow only the Prometheus
servers to reach it at the proxy). Metrics and alerts: docs/MONITORING.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from tradewire import metrics
from tradewire.api.deps import ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request, services: ServicesDep) -> Response:
    """The Prometheus text format, or OpenMetrics when the scraper asks for it (Accept)."""
    # sync on purpose: FastAPI runs it in a thread, so collecting never blocks the event loop
    metrics.describe_instance(services.settings)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(REGISTRY), media_type=content_type)
