"""Unit tests of the describe building blocks (reconciler.views.sections): pure, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.api.records import EventRecord
from reconciler.views.sections import (
    Describer,
    env_section,
    events_section,
    mounts_section,
    ports_text,
    volumes_section,
    when,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class TestDescriber:
    def test_consecutive_pairs_share_one_alignment(self) -> None:
        """Keys of one block pad to the longest key plus two spaces, as kubectl's tabwriter."""
        d = Describer()
        d.pair(0, "Name", "web")
        d.pair(0, "Namespace", "default")
        d.line(0, "Containers:")
        d.pair(1, "Image", "web:1")
        assert d.render().splitlines() == [
            "Name:       web", "Namespace:  default", "Containers:", "  Image:  web:1"]

    def test_multi_values_and_none(self) -> None:
        """One value per line under one key; no values print <none>."""
        d = Describer()
        d.multi(0, "Labels", ["app=web", "tier=fe"])
        d.multi(0, "Annotations", [])
        assert d.render().splitlines() == [
            "Labels:       app=web", "              tier=fe", "Annotations:  <none>"]

    def test_when(self) -> None:
        """An absent time is <none>; a time prints as kubectl's RFC 1123 with zone offset."""
        assert when(None) == "<none>"
        assert when(NOW).endswith(NOW.astimezone().strftime("%H:%M:%S %z"))


class TestSections:
    def test_events_with_repeats(self) -> None:
        """A repeated event shows its count and the span since it was first seen."""
        d = Describer()
        ev = EventRecord("default", "Pod", "web", "Warning", "BackOff", "restarting", "kubelet",
                         host="node-1", count=4, first_seen=NOW - timedelta(minutes=10),
                         last_seen=NOW - timedelta(minutes=3))
        events_section(d, [ev], NOW)
        lines = d.render().splitlines()
        assert lines[0] == "Events:"
        assert "3m (x4 over 10m)" in lines[3] and "kubelet, node-1" in lines[3]

    def test_no_events(self) -> None:
        """No events print `Events: <none>`."""
        d = Describer()
        events_section(d, [], NOW)
        assert d.render() == "Events:  <none>"

    def test_ports_env_and_mounts(self) -> None:
        """Ports as N/PROTO, env values and fieldRefs, mounts as PATH from VOLUME (mode)."""
        spec = {"ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
                "env": [{"name": "A", "value": "1"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}]}
        assert ports_text(spec) == "80/TCP, 53/UDP"
        assert ports_text({}) == "<none>"
        d = Describer()
        env_section(d, 0, spec)
        mounts_section(d, 0, spec)
        text = d.render()
        assert "A:    1" in text and "(v1:metadata.name)" in text
        assert "/data from data (ro)" in text

    def test_volumes(self) -> None:
        """Claims, hostPath and emptyDir each print kubectl's Type line and their fields."""
        d = Describer()
        volumes_section(d, 0, [
            {"name": "c", "persistentVolumeClaim": {"claimName": "data-web-0"}},
            {"name": "h", "hostPath": {"path": "/srv"}},
            {"name": "e", "emptyDir": {}},
        ])
        text = d.render()
        assert "ClaimName:  data-web-0" in text
        assert "    Path:          /srv" in text.splitlines()
        assert "SizeLimit:  <unset>" in text
