"""Resource quantities: parsing to millicores and bytes, display forms, pod requests."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.api.quantity import (
    FORMAT_WRONG,
    SUFFIX_WRONG,
    QuantityError,
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
    parse_quantity,
    pod_requests,
)


class TestParseCpu:
    @pytest.mark.parametrize(
        ("value", "milli"),
        [("100m", 100), ("0.5", 500), (2, 2000), (0.25, 250), ("1", 1000), (".5", 500),
         ("0.1m", 1), ("1500m", 1500), ("1e3", 1_000_000), ("2k", 2_000_000), ("250000u", 250)],
    )
    def test_values(self, value: str | int | float, milli: int) -> None:
        """Cpu quantities become millicores, fractions rounded up as MilliValue does."""
        assert parse_cpu(value) == milli


class TestParseMemory:
    @pytest.mark.parametrize(
        ("value", "n"),
        [("128Mi", 128 << 20), ("1Gi", 1 << 30), ("1.5Gi", 3 << 29), ("1G", 10**9), ("5k", 5000),
         ("129e6", 129_000_000), ("129E6", 129_000_000), ("128974848", 128974848),
         (134217728, 134217728), ("1Ti", 1 << 40), ("1E", 10**18), ("1.5", 2), ("100m", 1)],
    )
    def test_values(self, value: str | int, n: int) -> None:
        """Memory quantities become bytes, with binary, decimal and exponent suffixes."""
        assert parse_memory(value) == n

    @pytest.mark.parametrize(
        ("value", "message"),
        [("1K", SUFFIX_WRONG), ("1e", SUFFIX_WRONG), ("abc", FORMAT_WRONG), ("", FORMAT_WRONG),
         ("Mi", FORMAT_WRONG), ("1Mib", FORMAT_WRONG), ("1.2.3", FORMAT_WRONG),
         (True, FORMAT_WRONG), ("-1", "must be greater than or equal to 0")],
    )
    def test_errors(self, value: str, message: str) -> None:
        """Malformed quantities give resource.Quantity's error wording."""
        with pytest.raises(QuantityError) as err:
            parse_memory(value)
        assert str(err.value) == message


class TestOneParser:
    """The cases the runtime's and the validator's former parsers handled, on the one parser."""

    @pytest.mark.parametrize(
        ("value", "milli"),
        [("100m", 100), ("0.5", 500), ("2", 2000), (1, 1000), (0.25, 250), ("1.0005", 1001)],
    )
    def test_runtime_cpu(self, value: str | int | float, milli: int) -> None:
        """Docker's cpu limits: millicores, rounded up (runtime/spec.py's former parse_cpu)."""
        assert parse_cpu(value) == milli

    @pytest.mark.parametrize(
        ("value", "n"),
        [("128Mi", 128 << 20), ("1G", 10**9), ("1Gi", 1 << 30), ("512", 512), (1024, 1024),
         ("1e3", 1000), ("2k", 2000), (" 1Gi ", 1 << 30)],
    )
    def test_runtime_memory(self, value: str | int, n: int) -> None:
        """Docker's memory limits and tmpfs sizes in bytes (runtime/spec.py's former parser)."""
        assert parse_memory(value) == n

    @pytest.mark.parametrize(
        "value",
        ["", "12x", "Mi", "1.2.3", "lots", "1 Gi", "1e3Mi", "1Mi2", "--1", float("inf"),
         float("nan"), True],
    )
    def test_refused(self, value: str | float) -> None:
        """What no parser may accept; "1e3Mi" passed the validator's old regex, and then
        crashed the scheduler's parser."""
        with pytest.raises(QuantityError):
            parse_quantity(value)

    @pytest.mark.parametrize(
        ("value", "amount"),
        [("100m", Decimal("0.1")), ("0.5", Decimal("0.5")), (1, Decimal(1)), ("1.", Decimal(1)),
         (".5", Decimal("0.5")), ("+2", Decimal(2)), ("-1", Decimal(-1)), ("1e3", Decimal(1000)),
         ("128Mi", Decimal(128 << 20)), ("5n", Decimal("5e-9")), ("7u", Decimal("7e-6"))],
    )
    def test_exact(self, value: str | int, amount: Decimal) -> None:
        """The exact value the validator checks for sign (manifests/names.py's former regex)."""
        assert parse_quantity(value) == amount


class TestFormat:
    @pytest.mark.parametrize(
        ("milli", "text"), [(250, "250m"), (2000, "2"), (0, "0"), (1500, "1500m")]
    )
    def test_cpu(self, milli: int, text: str) -> None:
        """Whole cores print as integers, others in millicores."""
        assert format_cpu(milli) == text

    @pytest.mark.parametrize(("n", "text"), [(128 << 20, "128Mi"), (10**9, "1G"), (1500, "1500"),
                                             (0, "0"), (1536 << 20, "1536Mi"), (3 << 30, "3Gi")])
    def test_memory(self, n: int, text: str) -> None:
        """Memory prints in the largest exact binary unit, then decimal, then bytes."""
        assert format_memory(n) == text

    @given(st.integers(min_value=0, max_value=1 << 62))
    def test_memory_round_trip(self, n: int) -> None:
        """Every displayed memory value parses back to the same number of bytes."""
        assert parse_memory(format_memory(n)) == n

    @given(st.integers(min_value=0, max_value=10**12))
    def test_cpu_round_trip(self, milli: int) -> None:
        """Every displayed cpu value parses back to the same millicores."""
        assert parse_cpu(format_cpu(milli)) == milli


class TestPodRequests:
    def test_limits_stand_in_for_requests(self) -> None:
        """A container with only limits requests its limits; requests win when present."""
        spec = {"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "100m"},
                                        "limits": {"cpu": "1", "memory": "64Mi"}}},
            {"name": "c"},
        ]}
        assert pod_requests(spec) == (600, (1 << 30) + (64 << 20))

    def test_init_containers_raise_the_floor(self) -> None:
        """The largest init container request is a floor for the pod's request."""
        spec = {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2",
                                                                            "memory": "1Mi"}}}]}
        assert pod_requests(spec) == (2000, 1 << 20)
