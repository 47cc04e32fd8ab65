"""Resource quantities: cpu and memory as Kubernetes writes them, to integers and back.

Used by the validator (requests and limits must parse), the scheduler's resources
filter and scores (millicores and bytes), the runtime (Docker's cpu and memory
limits) and the CLI (display). Mirrors k8s.io/apimachinery/pkg/api/resource
(ParseQuantity, Quantity.MilliValue / Quantity.Value, which round up) and its
canonical string form.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from reconciler.api.types import JSON

# The wording of resource.ErrFormatWrong and resource.ErrSuffix.
FORMAT_WRONG = (
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
SUFFIX_WRONG = "unable to parse quantity's suffix"

_NUMBER = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_EXPONENT = re.compile(r"^[eE]([+-]?[0-9]+)$")


class QuantityError(ValueError):
    """A quantity Kubernetes would refuse; the message is Kubernetes' wording."""


def parse_quantity(value: str | int | float) -> Decimal:
    """resource.ParseQuantity: the exact value of `value` ("100m", "1.5Gi", "129e6", 2)."""
    if isinstance(value, bool):
        raise QuantityError(FORMAT_WRONG)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(FORMAT_WRONG)
        # repr() gives the shortest decimal that YAML wrote, not the binary expansion.
        return Decimal(repr(value))
    text = str(value).strip()
    match = _NUMBER.match(text)
    if not match:
        raise QuantityError(FORMAT_WRONG)
    number, suffix = match.groups()
    try:
        amount = Decimal(number)
    except InvalidOperation:
        raise QuantityError(FORMAT_WRONG) from None
    if suffix in _BINARY:
        return amount * (1 << _BINARY[suffix])
    if suffix in _DECIMAL:
        return amount.scaleb(_DECIMAL[suffix])
    exponent = _EXPONENT.match(suffix)
    if exponent:
        return amount.scaleb(int(exponent.group(1)))
    if re.fullmatch(r"[eEinumkKMGTP]*[-+]?[0-9]*", suffix):
        raise QuantityError(SUFFIX_WRONG)
    raise QuantityError(FORMAT_WRONG)


def _non_negative(amount: Decimal) -> Decimal:
    if amount < 0:
        raise QuantityError("must be greater than or equal to 0")
    return amount


def parse_cpu(value: str | int | float) -> int:
    """Millicores, rounded up as Quantity.MilliValue does ("100m" -> 100, "0.5" -> 500)."""
    return math.ceil(_non_negative(parse_quantity(value)) * 1000)


def parse_memory(value: str | int | float) -> int:
    """Bytes, rounded up as Quantity.Value does ("128Mi" -> 134217728, "1G" -> 10**9)."""
    return math.ceil(_non_negative(parse_quantity(value)))


def format_cpu(milli: int) -> str:
    """Kubernetes' canonical cpu form: whole cores as "2", otherwise millicores as "250m"."""
    if milli % 1000 == 0:
        return str(milli // 1000)
    return f"{milli}m"


def format_memory(n: int) -> str:
    """The shortest exact form: binary suffixes first ("128Mi"), then decimal ("1G"), then bytes."""
    if n == 0:
        return "0"
    for suffix, shift in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
        if n % (1 << shift) == 0:
            return f"{n >> shift}{suffix}"
    for suffix, exp in sorted(_DECIMAL.items(), key=lambda kv: -kv[1]):
        if exp > 0 and n % 10**exp == 0:
            return f"{n // 10**exp}{suffix}"
    return str(n)


def container_requests(container: JSON) -> tuple[int, int]:
    """(cpu millicores, memory bytes) a container requests; limits stand in for absent requests.

    Kubernetes defaults a missing request to the limit (pkg/apis/core/v1/defaults.go),
    so a container with only limits is scheduled by its limits.
    """
    resources: Any = container.get("resources") or {}
    requests: Any = resources.get("requests") or {}
    limits: Any = resources.get("limits") or {}
    cpu = requests.get("cpu", limits.get("cpu"))
    memory = requests.get("memory", limits.get("memory"))
    return (
        parse_cpu(cpu) if cpu is not None else 0,
        parse_memory(memory) if memory is not None else 0,
    )


def pod_requests(spec: JSON) -> tuple[int, int]:
    """A pod's effective request, as the scheduler computes it (resource.PodRequests).

    The sum over its containers, raised to the largest single init container's
    request, since init containers run one at a time before the others.
    """
    cpu = memory = 0
    for c in _containers(spec, "containers"):
        c_cpu, c_mem = container_requests(c)
        cpu, memory = cpu + c_cpu, memory + c_mem
    for c in _containers(spec, "initContainers"):
        i_cpu, i_mem = container_requests(c)
        cpu, memory = max(cpu, i_cpu), max(memory, i_mem)
    return cpu, memory


def _containers(spec: JSON, field: str) -> list[JSON]:
    items = spec.get(field)
    if not isinstance(items, list):
        return []
    return [c for c in items if isinstance(c, dict)]
