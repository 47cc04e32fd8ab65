"""reconciler: a declarative, GitOps-style reconciler, a small Kubernetes for plain Docker hosts."""

__version__ = "0.1.0"
