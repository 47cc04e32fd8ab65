"""The state store's facade: `Store.open(url_or_path)` and every query, one class.

The service's composition root opens one `Store` and hands it to the control
loop, controllers, proxy and DNS; each CLI command opens its own. The methods
live in mixins by subject, over `base.StoreBase`:

- `reads.ReadStore` (`StoreBase`'s base): what the CLI's stdlib reader reads too,
  each query written once: recorded(), objects(), get_object(), revisions(),
  list_pods(), get_pod(), list_nodes(), get_node(), get/list_endpoints(),
  allocations(), list_components(), claims(), list_claims(), get_claim()
- `objects.ObjectsMixin`: apply_plan(), set_status(), get_status(), set_revision(),
  revision(), reseal_secrets()
- `owned.OwnedObjectsMixin`: write_owned(), owned_objects(): objects a controller
  writes (a Deployment's ReplicaSets)
- `pods.PodsMixin`: get_pod_by_uid(), upsert_pod(s)(), create_pods(), patch_pod(s)(),
  delete_pod(), upsert_node(), report_node(), delete_node()
- `claims.ClaimsMixin`: ensure_claims(), bind_claim(), mark_claims_deleted(),
  delete_claim()
- `network.NetworkMixin`: set/delete_endpoints(), allocate_cluster_ip(),
  allocate_node_port(), cluster_ips(), release_allocations()
- `components.ComponentsMixin`: set_components()
- `cluster.ClusterMixin`: cluster_id(), the store's identity on the Docker hosts
- `events.EventsMixin`: record_event(s)(), list_events(), prune_events()
- `retention.RetentionMixin`: compact(), prune_revisions(): expired events, old revisions
- `leases.LeasesMixin`: try_acquire(), renew(), release(), get_lease(), lease_expired()
- `feeds.FeedsMixin`: feed(), feed_revisions(), endpoints_revision(), ack_proxy(),
  forget_proxy(), proxy_acks(), proxies_behind(): the proxies' change feed and acks
- `requests.RequestsMixin`: add_request(), take_requests(), get_request(),
  active_holder(), requests_detector(): `sync`/`delete` to the active instance

`batch()` (from `base.StoreBase`) groups writes into one transaction; after
`fence(name, holder, epoch)` every write transaction first checks the lease. All
timestamps returned are aware UTC; naive datetimes passed in are taken as UTC.
"""

from __future__ import annotations

from reconciler.store import engine as engines
from reconciler.store.claims import ClaimsMixin
from reconciler.store.cluster import ClusterMixin
from reconciler.store.components import ComponentsMixin
from reconciler.store.events import EventsMixin
from reconciler.store.feeds import FeedsMixin
from reconciler.store.leases import LeasesMixin
from reconciler.store.network import NetworkMixin
from reconciler.store.objects import ObjectsMixin
from reconciler.store.owned import OwnedObjectsMixin
from reconciler.store.pods import PodsMixin
from reconciler.store.requests import RequestsMixin
from reconciler.store.retention import RetentionMixin


class Store(
    ObjectsMixin, PodsMixin, ClaimsMixin, NetworkMixin, EventsMixin, ComponentsMixin,
    ClusterMixin, LeasesMixin, FeedsMixin, OwnedObjectsMixin, RetentionMixin, RequestsMixin,
):
    """The state store; open it with `Store.open`."""

    @classmethod
    def open(cls, url_or_path: str, *, create: bool = True) -> Store:
        """Open (creating and migrating as needed) a store: a SQLite path or SQLAlchemy URL.

        With `create=False` a missing SQLite file raises `StoreMissing` instead of
        being created: the read-only CLI must not leave empty stores behind.
        """
        engine = engines.create(url_or_path, create_missing=create)
        try:
            engines.migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
