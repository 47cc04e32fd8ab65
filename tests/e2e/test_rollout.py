"""End to end: GitOps rollback of a Deployment on a git source, by `rollout undo` and `git revert`.

The service applies a bare git repository (`--git`); the test commits from a
clone beside it, as a user does. A rollback either way is a new commit whose
template is an older one: the controller must scale the older ReplicaSet back
up under its same `<deployment>-<pod-template-hash>` name (same uid), never
make a new one. `rollout status` and `rollout history` run against the same
store and clone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.deployments_kit import RolloutWatch, complete, replica_sets, sizes, web
from tests.e2e.process_helpers import GitRepo
from tests.e2e.service import ServiceRun, wait_until
from tests.e2e.services_kit import pods_by_node

pytestmark = [pytest.mark.docker, pytest.mark.timeout(420)]


def rolled_to(run: ServiceRun, rs: str, replicas: int) -> bool:
    """Complete, `rs` holds every replica, and every live pod of the Deployment is its."""
    return (complete(run, replicas) and sizes(run).get(rs) == replicas
            and len(pods_by_node(run, rs + "-")) == replicas
            and len(pods_by_node(run, "web-")) == replicas)


def new_set(run: ServiceRun, replicas: int) -> str:
    """The name of the ReplicaSet holding all replicas once a rollout completes."""
    def found() -> str:
        full = [n for n, size in sizes(run).items() if size == replicas]
        return full[0] if complete(run, replicas) and len(full) == 1 else ""
    name: str = wait_until(found, 180, 0.5, what="the rollout to complete")
    return name


class TestRollbackOnGit:
    def test_undo_and_revert_bring_back_the_same_replica_set(
            self, svc_factory: list[ServiceRun], tmp_path: Path,
            local_images: None) -> None:
        """undo --commit, then git revert of it: each scales an existing set back up."""
        repo = GitRepo(tmp_path / "git").init()
        repo.git("config", "user.name", "t")
        repo.git("config", "user.email", "t@example.invalid")
        repo.commit({"web.yaml": web("v1", 3)}, "web v1")
        run = ServiceRun(tmp_path, args=("--proxy-mode", "off", "--git", str(repo.bare),
                                         "--branch", "main", "--interval", "1s"))
        svc_factory.append(run)
        run.start()
        first = new_set(run, 3)
        repo.commit({"web.yaml": web("v2", 3)}, "web v2")
        second = wait_until(lambda: (n := new_set(run, 3)) != first and n, 180, 0.5,
                            what="v2 rolled out")
        watch = RolloutWatch(run)
        try:
            # rollout undo: the manifest in the clone is rewritten and committed; pushed.
            undo = run.cli("rollout", "undo", "deploy/web", "--commit", "--desired",
                           str(repo.work), timeout=60)
            assert undo.stdout.startswith("deployment.apps/web rolled back (committed ")
            assert (repo.work / "web.yaml").read_text() == web("v1", 3)
            repo.git("push", "-q", "origin", "main")
            run.cli("sync")
            wait_until(lambda: rolled_to(run, first, 3), 180, 0.5, what="v1's set back")
            status = run.cli("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
            assert status.stdout.endswith('deployment "web" successfully rolled out\n')
            assert set(replica_sets(run)) == {first, second}

            # git revert of the undo commit: v2's template again, v2's set again.
            repo.git("revert", "--no-edit", "HEAD")
            repo.git("push", "-q", "origin", "main")
            run.cli("sync")
            wait_until(lambda: rolled_to(run, second, 3), 180, 0.5, what="v2's set back")
            assert set(replica_sets(run)) == {first, second}
        finally:
            watch.stop()
        # Scaled, never recreated: each name only ever had one uid.
        assert {n: len(u) for n, u in watch.rs_uids.items()} == {first: 1, second: 1}
        history = run.cli("rollout", "history", "deploy/web", "--desired", str(repo.work))
        rows = [line.split(None, 3) for line in history.stdout.splitlines()[2:]]
        assert [r[:2] for r in rows] == [["3", first], ["4", second]]
        assert rows[0][3].startswith("Roll back deployment web to revision 1")
        assert rows[1][3].startswith('Revert "Roll back deployment web')
        assert rows[1][2] == repo.git("rev-parse", "--short=12", "HEAD")
