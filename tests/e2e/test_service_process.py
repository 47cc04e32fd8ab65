"""End to end: the long-running service process (issue 6) as a user and systemd run it.

Each test starts the real `reconciler run` (tests/e2e/service.py) on its own
desired folder, state file and container prefix, with the proxy off, and
asserts on what the engine runs and what the CLI shows: folder edits, bad
input, git revisions, kill -9 and restart, the standby lease, SIGTERM,
fluentd, systemd notify and SIGHUP, and metrics. Measured times are printed.
"""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from reconciler.store import Store
from reconciler.store.records import EndpointsRecord
from tests.e2e.process_helpers import (
    DockerEvents,
    GitRepo,
    engine_containers,
    events_text,
    metric,
    pod_yaml,
    rc_yaml,
    running_ids,
    scrape,
    status_ids,
)
from tests.e2e.service import RECONCILER, ServiceRun, wait_until
from tests.support.fluent_receiver import FluentReceiver, free_port

pytestmark = [pytest.mark.docker]

OFF = ("--proxy-mode", "off")
REVISION = "reconciler.dev/revision"


def make(svc_factory: list[ServiceRun], tmp_path: Path, *, args: tuple[str, ...] = OFF,
         **kwargs: object) -> ServiceRun:
    run = ServiceRun(tmp_path, args=args, **kwargs)  # type: ignore[arg-type]
    svc_factory.append(run)
    return run


def running_names(run: ServiceRun) -> set[str]:
    return {p["metadata"]["name"] for p in run.running()}


def pod_running_with(run: ServiceRun, name: str, other_than: str = "") -> str | None:
    """The container id of pod `name` once it runs with an id other than `other_than`."""
    ids = status_ids(run)
    if name in ids and name in running_names(run) and ids[name][0] != other_than:
        return ids[name][0]
    return None


class TestFolderSource:
    @pytest.mark.timeout(120)
    def test_write_edit_delete_converge(self, svc_factory: list[ServiceRun],
                                        tmp_path: Path) -> None:
        """Written, label-edited, command-edited and deleted manifests converge; prints times."""
        run = make(svc_factory, tmp_path).start()
        docker_events = DockerEvents(run.prefix).start()
        try:
            t0 = time.time()
            run.write("a.yaml", pod_yaml("a"))
            first = wait_until(lambda: pod_running_with(run, "a"), 30, 0.05, what="pod a running")
            created = time.time() - t0
            first_call = docker_events.first_after(t0, ("create",))

            t1 = time.time()
            run.write("a.yaml", pod_yaml("a", labels="app: sleeper, tier: edited"))
            wait_until(lambda: (p := run.pods()) and p[0]["metadata"]["labels"].get("tier")
                       == "edited", 10, 0.05, what="the label edit recorded")
            labelled = time.time() - t1
            time.sleep(1)
            assert pod_running_with(run, "a") == first, "a label edit must not restart it"

            t2 = time.time()
            run.write("a.yaml", pod_yaml("a", command="sleep 3601"))
            second = wait_until(lambda: pod_running_with(run, "a", other_than=first), 30, 0.05,
                                what="pod a's container replaced")
            replaced = time.time() - t2
            kill_call = docker_events.first_after(t2)
            assert second != first
            assert first not in running_ids(run.prefix).values()

            t3 = time.time()
            (run.desired / "a.yaml").unlink()
            wait_until(lambda: not run.pods() and not any(c.running for c in
                                                        engine_containers(run.prefix)),
                       30, 0.05, what="pod a gone")
            deleted = time.time() - t3
        finally:
            docker_events.stop()
        assert first_call is not None and kill_call is not None
        print(f"\nfolder: write -> Running {created:.2f}s (first docker create "
              f"{first_call - t0:.2f}s); label edit -> recorded {labelled:.2f}s, same container;"
              f" command edit -> replaced and Running {replaced:.2f}s (first docker call "
              f"{kill_call - t2:.2f}s); delete -> gone {deleted:.2f}s")

    def test_invalid_yaml_touches_nothing(self, svc_factory: list[ServiceRun],
                                          tmp_path: Path) -> None:
        """Invalid YAML: same containers, stale in `get`, an event in describe; fixed: converges."""
        run = make(svc_factory, tmp_path)
        run.write("a.yaml", pod_yaml("a"))
        run.start()
        wait_until(lambda: pod_running_with(run, "a"), 30, what="pod a")
        ids = running_ids(run.prefix)
        run.write("a.yaml", pod_yaml("a", command="sleep 3602") + "  bad: [unclosed\n")
        wait_until(lambda: "STALE" in run.cli("get", "pods").stdout.upper(), 15,
                   what="pod a marked stale")
        time.sleep(2)
        assert running_ids(run.prefix) == ids, "an invalid manifest must not touch a pod"
        described = run.cli("describe", "pod", "a").stdout
        assert "InvalidManifest" in described, described
        assert "docker://docker://" not in described
        assert re.search(r"a\.yaml:\d+:\d+: error: invalid YAML", described), described
        run.write("a.yaml", pod_yaml("a", command="sleep 3602"))
        wait_until(lambda: pod_running_with(run, "a", other_than=ids_of(ids, "main")), 30,
                   what="the fixed manifest applied")
        assert "STALE" not in run.cli("get", "pods").stdout.upper()


def ids_of(ids: dict[str, str], container: str) -> str:
    return next(i for n, i in ids.items() if n.split("_")[1] == container)


class TestGracefulStop:
    def test_sigterm_leaves_pods_and_restart_adopts(self, svc_factory: list[ServiceRun],
                                                    tmp_path: Path) -> None:
        """SIGTERM: exit 0 without a kill, pods keep running; a restart restarts no pod."""
        run = make(svc_factory, tmp_path)
        run.write("rc.yaml", rc_yaml("web", 3))
        run.start()
        wait_until(lambda: len(run.running()) == 3, 30, what="3 pods")
        ids, statuses = running_ids(run.prefix), status_ids(run)
        assert len(ids) == 6
        code, took = terminate(run)
        assert code == 0, run.output()
        assert "STOPPING=1" in "\n".join(run.messages)
        assert running_ids(run.prefix) == ids
        # terminate() waits a generous 30 s; exiting on its own (code 0, not -9) is the check.
        again = make(svc_factory, tmp_path, prefix=run.prefix).start()
        time.sleep(3)
        assert running_ids(run.prefix) == ids, "a restart must not restart any pod"
        assert status_ids(again) == statuses
        print(f"\nSIGTERM: exit 0 after {took:.2f}s; restart adopted {len(ids)} containers")


def terminate(run: ServiceRun, sig: int = signal.SIGTERM) -> tuple[int, float]:
    """Signal the service, wait for its exit, keep the notify messages it sent; (code, seconds)."""
    assert run.proc is not None
    drain(run)
    t = time.monotonic()
    run.proc.send_signal(sig)
    code = run.proc.wait(30)
    took = time.monotonic() - t
    drain(run)
    run.stop()
    return code, took


def drain(run: ServiceRun) -> list[str]:
    """Read the notify datagrams waiting on the socket (its queue holds only ~10)."""
    assert run.notify is not None
    got = []
    while True:
        try:
            got.append(run.notify.recv(4096).decode())
        except (TimeoutError, BlockingIOError):
            break
    run.messages += got
    return got


BAD_SCHEMA = """\
apiVersion: v1
kind: Pod
metadata:
  name: a
spec:
  containers:
  - name: main
    image: reconciler/busybox:1
    command: ["sleep", "3600"]
    ports: [{containerPort: "http-ish"}]
"""


class TestGitSource:
    @pytest.mark.timeout(150)
    def test_commits_applied_bad_ones_refused_sync_now(self, svc_factory: list[ServiceRun],
                                                       tmp_path: Path) -> None:
        """Commits are applied and recorded; invalid ones refused by SHA; `sync` fetches now."""
        repo = GitRepo(tmp_path / "git").init()
        good = repo.commit({"a.yaml": pod_yaml("a")}, "pod a")
        git_args = ("--git", str(repo.bare), "--branch", "main")
        run = make(svc_factory, tmp_path, args=(*OFF, *git_args, "--interval", "1s")).start()
        wait_until(lambda: pod_running_with(run, "a"), 30, what="pod a from the first commit")
        assert good in run.cli("get", "revision").stdout
        assert run.get_json("pods", "a")["metadata"]["annotations"][REVISION] == good
        ids = running_ids(run.prefix)

        for bad in (pod_yaml("a", command="sleep 3601") + "  oops: [\n", BAD_SCHEMA):
            t = time.time()
            sha = repo.commit({"a.yaml": bad}, "a bad change")
            wait_until(lambda: f"revision {sha[:12]} refused" in run.output(),  # noqa: B023
                       15, what=f"revision {sha[:12]} refused in the log")
            refused = time.time() - t
            # The event is written a moment after the log line (in batches): wait for it.
            wait_until(lambda: any(sha[:12] in ln for ln in events_text(run).splitlines()  # noqa: B023
                                   if "InvalidRevision" in ln), 15,
                       what=f"the InvalidRevision event of {sha[:12]}")
            assert good in run.cli("get", "revision").stdout
            time.sleep(1.5)
            assert running_ids(run.prefix) == ids, "a refused revision must not touch pods"
            print(f"\ngit: bad commit {sha[:12]} refused {refused:.2f}s after the push")

        fixed = repo.commit({"a.yaml": pod_yaml("a", command="sleep 3601")}, "a fixed")
        new_a = wait_until(lambda: pod_running_with(run, "a", other_than=ids_of(ids, "main")),
                           30, what="the fixed commit applied")
        assert fixed in run.cli("get", "revision").stdout
        assert run.get_json("pods", "a")["metadata"]["annotations"][REVISION] == fixed
        code, _ = terminate(run)
        assert code == 0

        # `reconciler sync` against a service that would otherwise not look for an hour.
        slow = make(svc_factory, tmp_path, prefix=run.prefix,
                    args=(*OFF, *git_args, "--interval", "1h")).start()
        latest = repo.commit({"b.yaml": pod_yaml("b")}, "pod b")
        time.sleep(2)
        assert latest not in slow.cli("get", "revision").stdout
        t = time.monotonic()
        slow.cli("sync")
        wait_until(lambda: latest in slow.cli("get", "revision").stdout, 15, 0.05,
                   what="the synced revision recorded")
        recorded = time.monotonic() - t
        wait_until(lambda: pod_running_with(slow, "b"), 30, 0.05, what="pod b")
        converged = time.monotonic() - t
        assert pod_running_with(slow, "a") == new_a, "the restart kept pod a"
        print(f"\ngit: `reconciler sync` -> revision recorded {recorded:.2f}s, "
              f"pod b Running {converged:.2f}s")


SELECTORLESS = """\
apiVersion: v1
kind: Service
metadata: {name: outside}
spec:
  ports: [{port: 80}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: outside}
subsets:
- addresses: [{ip: 192.0.2.10}]
  ports: [{port: 80}]
"""


class TestSyncRechecks:
    @pytest.mark.timeout(90)
    def test_sync_rewrites_endpoints_removed_behind_the_idle_memos(
            self, svc_factory: list[ServiceRun], tmp_path: Path) -> None:
        """Endpoints deleted from the store by hand, which an idle resync skips: sync rewrites."""
        run = make(svc_factory, tmp_path)
        run.write("outside.yaml", SELECTORLESS)
        run.start()

        def endpoints() -> EndpointsRecord | None:
            store = Store.open(str(run.state), create=False)
            try:
                return store.get_endpoints("default", "outside")
            finally:
                store.close()

        wait_until(endpoints, 30, 0.1, what="the Endpoints written")
        # Two resyncs (5 s each): the Service's reconcile found nothing to do and is
        # remembered as idle, so the periodic resync leaves it out from then on.
        time.sleep(11)
        store = Store.open(str(run.state), create=False)
        try:
            store.delete_endpoints("default", "outside")
        finally:
            store.close()
        run.cli("sync")
        found = wait_until(endpoints, 20, 0.1, what="the Endpoints written again")
        assert [a["ip"] for s in found.subsets for a in s["addresses"]] == ["192.0.2.10"]


class TestCrashAndStandby:
    @pytest.mark.timeout(180)
    def test_kill9_mid_converge_no_duplicate_no_orphan(self, svc_factory: list[ServiceRun],
                                                       tmp_path: Path) -> None:
        """kill -9 while 20 pods start; restart: 20 pods, 20 + 20 containers, no orphan."""
        run = make(svc_factory, tmp_path)
        run.write("rc.yaml", rc_yaml("many", 20))
        run.start()
        wait_until(lambda: len(engine_containers(run.prefix)) >= 10, 30, 0.02,
                   what="the first containers")
        run.kill9()
        at_kill = engine_containers(run.prefix)
        in_store = len(run.pods())
        again = make(svc_factory, tmp_path, prefix=run.prefix).start()
        t = time.monotonic()
        wait_until(lambda: len(again.running()) == 20, 90, 0.2, what="20 running pods")
        converged = time.monotonic() - t

        def settled() -> bool:
            ctrs = engine_containers(run.prefix)
            return len(ctrs) == 40 and all(c.running for c in ctrs)

        wait_until(settled, 30, what="exactly 40 running containers")
        pods = again.pods()
        uids = {p["metadata"]["uid"] for p in pods}
        ctrs = engine_containers(run.prefix)
        assert len(pods) == 20 and len({p["metadata"]["name"] for p in pods}) == 20
        assert sum(c.container == "POD" for c in ctrs) == 20
        assert sum(c.container == "main" for c in ctrs) == 20
        assert {c.pod_uid for c in ctrs} == uids, "no container of a pod the store lacks"
        print(f"\nkill -9 with {len(at_kill)} containers created ({sum(c.running for c in at_kill)}"
              f" running), {in_store} pods in the store; after restart 20 pods "
              f"Running in {converged:.2f}s; 40 containers, no orphan")

    @pytest.mark.timeout(120)
    def test_standby_takes_over(self, svc_factory: list[ServiceRun], tmp_path: Path) -> None:
        """B waits while A holds the lease; kill -9 A: B takes over within the TTL, pods kept."""
        lease = {"RECONCILER_LEASE_TTL": "3s", "RECONCILER_LEASE_RENEW": "1s"}
        a = make(svc_factory, tmp_path, extra_env=lease)
        a.write("rc.yaml", rc_yaml("web", 2))
        a.start()
        wait_until(lambda: len(a.running()) == 2, 30, what="2 pods under A")
        b = make(svc_factory, tmp_path, prefix=a.prefix, extra_env=lease).start(wait_ready=False)
        wait_until(lambda: "standby" in b.output(), 60, what="B saying standby")
        ids = running_ids(a.prefix)
        # B must not act: an edit while A is frozen would be applied only by an active B.
        a.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        frozen = time.monotonic()
        a.write("rc.yaml", rc_yaml("web", 3))
        time.sleep(2)
        assert "READY=1" not in "\n".join(drain(b)), "B is not ready while it waits"
        assert running_ids(a.prefix) == ids, "the standby must not act"
        t = time.monotonic()
        a.kill9()
        # A generous wait (the TTL is 3 s): B must take over on its own, after A stopped.
        b.wait_notify("READY=1", 60)
        took, since_frozen = time.monotonic() - t, time.monotonic() - frozen
        wait_until(lambda: len(b.running()) == 3, 30, what="B converging the edit to 3")
        after = running_ids(a.prefix)
        assert set(ids.items()) <= set(after.items()), "pods kept running through the takeover"
        print(f"\nstandby: READY {took:.2f}s after kill -9 of the active, {since_frozen:.2f}s "
              "after it stopped renewing (lease TTL 3s, renew 1s)")


TALKER = """\
apiVersion: v1
kind: Pod
metadata:
  name: talker
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: reconciler/busybox:1
    command: ["sh", "-c", "i=0; while true; do echo hello-$i; i=$((i+1)); sleep 0.3; done"]
"""


def cs_line(run: ServiceRun, component: str) -> str:
    """The row of `get cs` for one component."""
    rows = run.cli("get", "cs").stdout.splitlines()
    return next((r for r in rows if r.split()[:1] == [component]), "")


class TestFluentd:
    @pytest.mark.timeout(120)
    def test_down_at_start_then_records_flow(self, svc_factory: list[ServiceRun],
                                             tmp_path: Path) -> None:
        """fluentd down: pods start, drops counted; up: logs, events and stdout arrive."""
        port = free_port()
        run = make(svc_factory, tmp_path, args=(*OFF, "--fluentd", f"127.0.0.1:{port}"),
                   extra_env={"RECONCILER_FLUENTD_BUFFER": "5"})
        run.write("talker.yaml", TALKER)
        run.start()
        wait_until(lambda: pod_running_with(run, "talker"), 30, what="talker running, no fluentd")
        line = wait_until(lambda: (ln := cs_line(run, "fluentd")) and "dropped" in ln and ln,
                          15, what="fluentd's drops in get cs")
        assert "Unhealthy" in line and "not connected" in line, line
        receiver = FluentReceiver(port).start()
        try:
            t = time.monotonic()
            assert receiver.wait_for(lambda es: any(e.tag == "reconciler.log" for e in es), 15)
            first = time.monotonic() - t
            # An event after fluentd is up: the pod's container replaced by an edit. The
            # 5-record buffer of this test drops records when the sender stalls (a loaded
            # machine, the talker logging 3 lines a second): up to three edits.
            killed = False
            for pause in ("0.2", "0.25", "0.2"):
                run.write("talker.yaml", TALKER.replace("sleep 0.3", f"sleep {pause}"))
                killed = receiver.wait_for(lambda es: any(
                    e.tag == "reconciler.event" and e.record.get("reason") == "Killing"
                    for e in es), 15)
                if killed:
                    break
            assert killed, [e.record for e in receiver.tagged("reconciler.event")]
            assert receiver.wait_for(lambda es: any(
                e.tag == "kube.default.talker.main" for e in es), 40), \
                sorted({e.tag for e in receiver.entries})
            line = wait_until(lambda: (ln := cs_line(run, "fluentd")) and "not connected"
                              not in ln and ln, 10, what="get cs: fluentd connected")
            assert "Unhealthy" in line and "records dropped" in line, line
        finally:
            receiver.stop()
        log = receiver.tagged("reconciler.log")
        assert {"level", "logger", "message"} <= set(log[0].record)
        event = next(e.record for e in receiver.tagged("reconciler.event")
                     if e.record.get("reason") == "Killing")
        assert {"object", "reason", "message", "node", "revision"} <= set(event), event
        assert event["object"] == "pod/talker" and event["node"] == "local"
        stdout = [e.record for e in receiver.entries if e.tag == "kube.default.talker.main"]
        assert any(str(r.get("log", "")).startswith("hello-") for r in stdout), stdout[:3]
        assert "hello-" in run.cli("logs", "talker").stdout
        print(f"\nfluentd: first service record {first:.2f}s after the receiver came up; "
              f"{len(log)} log records, {len(receiver.tagged('reconciler.event'))} events, "
              f"{len(stdout)} container lines; get cs: {' '.join(line.split()[1:])}")


def desired_passes(address: str) -> float:
    """How many times the desired controller ran (the resync enqueues it each period)."""
    return metric(scrape(address), "reconciler_reconcile_passes_total", controller="desired")


def config_show(run: ServiceRun, conf: Path) -> str:
    """`reconciler config show --config CONF` in the service's environment."""
    return subprocess.run([RECONCILER, "config", "show", "--config", str(conf)], env=run.env,
                          capture_output=True, text=True, check=True, timeout=30).stdout


class TestSystemdAndReload:
    @pytest.mark.timeout(120)
    def test_notify_watchdog_sighup_reload(self, svc_factory: list[ServiceRun],
                                           tmp_path: Path) -> None:
        """READY=1 with STATUS, WATCHDOG=1 pings, SIGHUP applies the file, STOPPING=1 on TERM."""
        address = f"127.0.0.1:{free_port()}"
        conf = tmp_path / "config.toml"
        conf.write_text(f'resync_interval = "1h"\nlog_level = "info"\n'
                        f'[metrics]\naddress = "{address}"\n')
        run = make(svc_factory, tmp_path, args=(*OFF, "--config", str(conf)),
                   extra_env={"WATCHDOG_USEC": "1000000"})
        for key in ("RECONCILER_RESYNC_INTERVAL", "RECONCILER_METRICS_ADDRESS"):
            del run.env[key]  # the file's values, not the harness defaults
        run.write("a.yaml", pod_yaml("a"))
        ready = run.start().messages[-1].split("\n")
        assert "READY=1" in ready and any(f.startswith("STATUS=") and "pods" in f for f in ready)
        shown = config_show(run, conf)
        assert f'resync_interval = "1h"  # {conf}' in shown, shown

        statuses = [f for f in ready if f.startswith("STATUS=")]
        statuses += [f for m in drain(run) for f in m.split("\n") if f.startswith("STATUS=")]
        before = desired_passes(address)
        pinged = [0]

        def pings_seen(n: int) -> bool:
            for m in drain(run):
                fields = m.split("\n")
                pinged[0] += fields.count("WATCHDOG=1")
                statuses.extend(f for f in fields if f.startswith("STATUS="))
            return pinged[0] >= n

        # Pings keep coming (a generous wait for 4 of them, sent each 0.5 s with WATCHDOG_USEC=1s).
        wait_until(lambda: pings_seen(4), 30, 0.1, what="4 WATCHDOG=1 pings")
        pings = pinged[0]
        # The status line is sent when its text changes, not again each second.
        assert all(a != b for a, b in itertools.pairwise(statuses)), statuses
        quiet = desired_passes(address) - before
        assert quiet <= 1, f"{quiet} desired passes while waiting for pings, with a 1h resync"

        conf.write_text(f'resync_interval = "1s"\nlog_level = "debug"\n'
                        f'[metrics]\naddress = "{address}"\n')
        assert run.proc is not None
        run.proc.send_signal(signal.SIGHUP)
        run.wait_notify("READY=1", 10)
        assert any("RELOADING=1" in m for m in run.messages)
        wait_until(lambda: "configuration reloaded" in run.output(), 5, what="the reload logged")
        reloaded = run.output().split("configuration reloaded")[-1].split("\n")[0]
        assert "log_level" in reloaded and "resync_interval" in reloaded, reloaded
        assert 'resync_interval = "1s"' in config_show(run, conf)
        before = desired_passes(address)
        busy = wait_until(lambda: (n := desired_passes(address) - before) >= 2 and n, 30, 0.2,
                          what="2 desired passes after reloading a 1s resync")

        conf.write_text('resync_interval = "soon"\n')
        run.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "not reloaded" in run.output(), 5, what="a bad file refused")
        assert "resync_interval" in run.output().split("not reloaded")[-1].split("\n")[0]
        code, took = terminate(run)
        assert code == 0 and any("STOPPING=1" in m for m in run.messages)
        print(f"\nsystemd: {pings} watchdog pings; desired passes meanwhile: {quiet:.0f} "
              f"(resync 1h), {busy:.0f} after SIGHUP to 1s; SIGTERM exit in {took:.2f}s")


class TestMetrics:
    def test_scrape_running_service(self, svc_factory: list[ServiceRun], tmp_path: Path) -> None:
        """/metrics: reconcile passes by controller, queue depth, pods by phase, Docker calls."""
        address = f"127.0.0.1:{free_port()}"
        run = make(svc_factory, tmp_path, extra_env={"RECONCILER_METRICS_ADDRESS": address})
        run.write("rc.yaml", rc_yaml("web", 3))
        run.write("done.yaml", pod_yaml("done", command="true").replace(
            "spec:\n", "spec:\n  restartPolicy: Never\n", 1))
        run.start()
        wait_until(lambda: len(run.running()) == 3, 30, what="3 running pods")
        samples = wait_until(lambda: (s := scrape(address)) and metric(
            s, "reconciler_pods", phase="Succeeded") == 1 and s, 20,
            what="the finished pod counted as Succeeded")
        assert metric(samples, "reconciler_pods", phase="Running") == 3
        assert metric(samples, "reconciler_pods") == 4
        for controller in ("desired", "pod", "replication", "node"):
            assert metric(samples, "reconciler_reconcile_passes_total",
                          controller=controller, result="ok") >= 1, controller
        passes = metric(samples, "reconciler_reconcile_passes_total")
        assert metric(samples, "reconciler_reconcile_duration_seconds_count") == passes
        depth = metric(samples, "reconciler_workqueue_depth")
        assert 0 <= depth < 50
        docker = metric(samples, "reconciler_docker_call_duration_seconds_count")
        starts = metric(samples, "reconciler_docker_call_duration_seconds_count",
                        host="local", operation="POST /containers/{id}/start")
        assert starts >= 8, f"{starts} container starts timed (3 pods + 1, infra + app)"
        assert metric(samples, "reconciler_fluentd_dropped_records_total") == 0
        time.sleep(6)  # one resync period (5 s in the harness) adds passes
        later = scrape(address)
        assert metric(later, "reconciler_reconcile_passes_total") > passes
        phases = {p: metric(later, "reconciler_pods", phase=p) for p in ("Running", "Succeeded")}
        print(f"\nmetrics: {passes:.0f} reconcile passes at convergence, queue depth {depth:.0f},"
              f" {docker:.0f} docker calls timed; pods by phase {phases}")
