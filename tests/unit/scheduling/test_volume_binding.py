"""The VolumeBinding filter: a pod follows its bound claims; missing claims keep it Pending."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.api.records import ClaimRecord
from reconciler.scheduling import place
from reconciler.scheduling import volume_binding as vb
from reconciler.scheduling.nodeinfo import build_node_infos
from reconciler.scheduling.scheduler import place_many

from .factories import T0, node, pod

WWW = {"volumes": [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}]}


def claim(name: str = "www-web-0", node_name: str = "", **kw: object) -> ClaimRecord:
    return ClaimRecord("default", name, f"uid-{name}", None, node_name=node_name, **kw)  # type: ignore[arg-type]


class TestVolumeBinding:
    def test_claim_names(self) -> None:
        """claim_names lists each persistentVolumeClaim volume's claim once, in order."""
        spec = {"volumes": [{"name": "a", "persistentVolumeClaim": {"claimName": "x"}},
                            {"name": "e", "emptyDir": {}},
                            {"name": "b", "persistentVolumeClaim": {"claimName": "y"}},
                            {"name": "c", "persistentVolumeClaim": {"claimName": "x"}}]}
        assert vb.claim_names(spec) == ["x", "y"]

    def test_bound_claim_pins_node(self) -> None:
        """A claim bound to b makes b the only feasible node, others get the conflict reason."""
        nodes = [node("a", cpu=8000), node("b"), node("c", cpu=8000)]
        placement = place(pod("web-0", spec=WWW), nodes, [], {"www-web-0": claim(node_name="b")})
        assert placement.node == "b"
        assert placement.reasons == {"a": (vb.REASON_CONFLICT,), "c": (vb.REASON_CONFLICT,)}

    def test_unbound_claim_fits_anywhere(self) -> None:
        """An unbound claim leaves the choice to the other filters and the scores."""
        placement = place(pod("web-0", spec=WWW), [node("a"), node("b", unschedulable=True)], [],
                          {"www-web-0": claim()})
        assert placement.node == "a" and placement.reasons == {"b": ("node(s) were unschedulable",)}
        assert set(place(pod("web-0", spec=WWW), [node("a"), node("b")], [],
                         {"www-web-0": claim()}).scores) == {"a", "b"}

    def test_holder_not_ready(self) -> None:
        """The claim's node NotReady: the pod stays Pending and the message says why."""
        nodes = [node("local"), node("hostb", ready=False)]
        placement = place(pod("web-0", spec=WWW), nodes, [],
                          {"www-web-0": claim(node_name="hostb")})
        assert placement.node is None
        assert placement.message == (
            "0/2 nodes are available: 1 node(s) had untolerated taint "
            "{node.kubernetes.io/not-ready: }, 1 node(s) had volume node affinity conflict.")

    def test_holder_gone(self) -> None:
        """The claim's node no longer registered: every node has the conflict."""
        placement = place(pod("web-0", spec=WWW), [node("local")], [],
                          {"www-web-0": claim(node_name="hostb")})
        assert placement.message == (
            "0/1 nodes are available: 1 node(s) had volume node affinity conflict.")

    def test_missing_claim(self) -> None:
        """A claim that does not exist keeps the pod Pending with PreFilter's message."""
        placement = place(pod("web-0", spec=WWW), [node("a"), node("b")], [], {})
        assert placement.node is None and placement.reasons == {}
        assert placement.message == (
            '0/2 nodes are available: persistentvolumeclaim "www-web-0" not found.')

    def test_claim_being_deleted(self) -> None:
        """A claim marked for deletion is not used by a new pod."""
        placement = place(pod("web-0", spec=WWW), [node("a")], [],
                          {"www-web-0": claim(deletion_timestamp=T0)})
        assert placement.message == (
            '0/1 nodes are available: persistentvolumeclaim "www-web-0" is being deleted.')

    def test_pod_without_claims_unaffected(self) -> None:
        """A pod with no claims is placed as before, claims or not."""
        assert place(pod("p"), [node("a")], []).node == "a"
        assert place_many([pod("p")], [node("a")], [], {"x": claim("x", "b")})[0].node == "a"

    @given(st.sampled_from(["", "a", "b", "c", "gone"]))
    def test_fits_only_holder(self, holder: str) -> None:
        """Property: with a bound claim only its node is feasible; unbound, every node is."""
        infos = build_node_infos([node("a"), node("b"), node("c")], [])
        claims = {"www-web-0": claim(node_name=holder)}
        feasible = {n for n, info in infos.items()
                    if not vb.fits(pod("web-0", spec=WWW), info, claims)}
        assert feasible == ({"a", "b", "c"} if not holder else {holder} & {"a", "b", "c"})
