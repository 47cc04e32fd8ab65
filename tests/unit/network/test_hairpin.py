"""hostnet.Hairpin: each bridge port's hairpin flag turned on once, read again only when
the port is new, came back, or the recheck period has passed (on a /sys-like tree)."""

from __future__ import annotations

from pathlib import Path

from reconciler.network.hostnet import Hairpin


def port(net: Path, name: str, flag: str = "0") -> Path:
    """A bridge port of docker0 with its hairpin_mode file."""
    path = net / "docker0" / "brif" / name / "hairpin_mode"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(flag + "\n")
    return path


def remove(path: Path) -> None:
    path.unlink()
    path.parent.rmdir()


class TestHairpin:
    def test_every_port_is_turned_on(self, tmp_path: Path) -> None:
        """Ports with the flag off get it on; ports with it on are left as they are."""
        a, b = port(tmp_path, "veth1"), port(tmp_path, "veth2", "1")
        assert Hairpin(net=tmp_path).ensure() == 2
        assert a.read_text().strip() == "1" and b.read_text().strip() == "1"

    def test_a_port_known_on_is_not_read_again_before_the_recheck(self, tmp_path: Path) -> None:
        """Turned off behind its back, a known port waits for the recheck."""
        a = port(tmp_path, "veth1")
        hairpin = Hairpin(net=tmp_path)
        hairpin.ensure()
        a.write_text("0\n")
        hairpin.ensure()
        assert a.read_text().strip() == "0"

    def test_the_recheck_reads_every_port_again(self, tmp_path: Path) -> None:
        """Once the recheck period has passed, a flag turned off is turned on again."""
        a = port(tmp_path, "veth1")
        hairpin = Hairpin(recheck=0.0, net=tmp_path)
        hairpin.ensure()
        a.write_text("0\n")
        hairpin.ensure()
        assert a.read_text().strip() == "1"

    def test_a_new_port_is_turned_on(self, tmp_path: Path) -> None:
        """A pod started since the last update has its port turned on at the next."""
        port(tmp_path, "veth1")
        hairpin = Hairpin(net=tmp_path)
        hairpin.ensure()
        b = port(tmp_path, "veth2")
        assert hairpin.ensure() == 2
        assert b.read_text().strip() == "1"

    def test_a_port_that_went_and_came_back_is_turned_on(self, tmp_path: Path) -> None:
        """A name seen before, gone in between, is a new veth: read again."""
        a = port(tmp_path, "veth1")
        hairpin = Hairpin(net=tmp_path)
        hairpin.ensure()
        remove(a)
        assert hairpin.ensure() == 0
        a = port(tmp_path, "veth1")
        hairpin.ensure()
        assert a.read_text().strip() == "1"

    def test_no_bridge_is_no_port(self, tmp_path: Path) -> None:
        """A bridge that does not exist (yet) has nothing to turn on, and no error."""
        assert Hairpin("nosuch", net=tmp_path).ensure() == 0
