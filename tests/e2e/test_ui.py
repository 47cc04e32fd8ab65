"""The web dashboard end to end: `reconciler run` on the real Docker engine, seen in Chromium.

One service (module-scoped, proxy off) runs a web RC of 2 with a hostile
annotation, a `grow` RC to scale, a pod that logs, a pod in another namespace
and a Secret manifest (sealed in the store; the dashboard has no Secret pages). Pages are driven
in real headless Chromium (ui_kit.py); one screenshot per page lands in
tests/artifacts/ui/. The JSON API is compared with `reconciler get -o json`.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from tests.e2e.process_helpers import pod_yaml, rc_yaml
from tests.e2e.service import ServiceRun, remove_all, wait_until
from tests.e2e.ui_kit import Watched, chromium, get_json, http, table_keys

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: uidb, namespace: team}
spec:
  serviceName: uidb
  replicas: 2
  selector: {matchLabels: {app: uidb}}
  template:
    metadata: {labels: {app: uidb}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: reconciler/busybox:1
        command: [sh, -c, "hostname > /data/who; sleep 3600"]
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""

HOSTILE = '<img src=x onerror="window.pwned=1">'
SECRET_B64 = "c3VwZXJzZWNyZXQtdmFsdWU="  # "supersecret-value"
SECRET_PLAIN = "plain-token-value"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient,
            local_images: None) -> Iterator[ServiceRun]:
    """The running service with its dashboard, every pod Running."""
    run = ServiceRun(tmp_path_factory.mktemp("ui"), ui=True,
                     extra_env={"RECONCILER_NETWORK_PROXY_MODE": "off"})
    run.write("web-rc.yaml", rc_yaml("web", 2,
                                     annotations=json.dumps({"note": HOSTILE})))
    run.write("grow-rc.yaml", rc_yaml("grow", 1))
    run.write("talker.yaml", pod_yaml(
        "talker", ["sh", "-c", "echo hello-from-talker; echo '<b id=hostile>not bold</b>'; "
                   "sleep 3600"], "app: talker"))
    run.write("web-svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
                              "spec:\n  selector: {app: web}\n  ports: [{port: 80}]\n")
    run.write("team.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\n"
              + pod_yaml("teamer", labels="app: teamer", namespace="team"))
    run.write("uidb-sts.yaml", STATEFULSET)
    run.write("secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\n"
              f"data: {{password: {SECRET_B64}}}\nstringData: {{token: {SECRET_PLAIN}}}\n")
    try:
        run.start()
        wait_until(lambda: len(run.running()) == 4 and len(run.running("team")) == 3,
                   timeout=60, what="4 pods in default and 3 in team running")
        yield run
    finally:
        if run.proc is not None:
            run.stop()
        remove_all(run.prefix)
        volumes = subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter",
             f"label=io.reconciler.prefix={run.prefix}"],
            capture_output=True, text=True, check=False).stdout.split()
        if volumes:  # the claims' volumes outlive their pods by design
            subprocess.run(["docker", "volume", "rm", *volumes], capture_output=True, check=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as context:
        yield context


WARNINGS_HTML = "document.querySelectorAll('#live > section')[3].innerHTML"


class TestOverview:
    def test_shows_nodes_and_pods(self, cluster: ServiceRun, browser: Any) -> None:
        """The overview lists node `local` as Ready with bars, pods by phase and every pod."""
        w = Watched(browser)
        w.page.goto(cluster.ui_url + "/")
        card = w.page.locator("[data-node=local]")
        assert "Ready" in card.inner_text() and "CPU" in card.inner_text()
        assert w.page.locator(".bar .fill").count() == 2
        running = int(w.page.locator("[data-phase=Running] b").inner_text())
        assert running == 7
        pods = {p["metadata"]["name"] for p in cluster.running()} | {
            "team/teamer", "team/uidb-0", "team/uidb-1"}
        keys = {k.split("/", 1)[1] if k.startswith("default/") else k for k in table_keys(
            w.page, "main section:nth-of-type(2) tr[data-key]")}
        assert keys == pods
        rc = w.page.locator("tr[data-key='ReplicationController/default/web']")
        assert [rc.locator(c).inner_text() for c in (".desired", ".current", ".ready")] == \
            ["2", "2", "2"]
        w.shot("overview")
        assert w.errors == []

    def test_scaling_in_the_folder_updates_without_reload(
            self, cluster: ServiceRun, browser: Any,
            record_property: Callable[[str, object], None]) -> None:
        """Editing grow's replicas 1 -> 3 shows 3/3/3 without a reload; window state survives."""
        w = Watched(browser)
        w.page.goto(cluster.ui_url + "/")
        w.page.evaluate("window.notReloaded = 'still here'")
        # Tags on DOM nodes survive only where nothing was replaced: the live part itself,
        # and the warnings section, which has nothing new to show.
        w.page.evaluate("""() => { document.getElementById('live').tag = 'kept';
            document.querySelectorAll('#live > section')[3].tag = 'kept'; }""")
        warnings_before = w.page.evaluate(WARNINGS_HTML)
        row = "tr[data-key='ReplicationController/default/grow']"
        assert w.page.locator(f"{row} .desired").inner_text() == "1"
        started = time.monotonic()
        cluster.write("grow-rc.yaml", rc_yaml("grow", 3))
        w.page.wait_for_function(
            f"""() => {{ const r = document.querySelector("{row}");
                return r && ['.desired', '.current', '.ready'].every(
                    c => r.querySelector(c).textContent === '3'); }}""", timeout=60_000)
        took = time.monotonic() - started
        record_property("seconds_from_edit_to_page", round(took, 2))
        assert w.page.evaluate("window.notReloaded") == "still here"
        assert w.page.evaluate("window.reconcilerRefreshes") > 0
        assert w.page.evaluate("document.getElementById('live').tag") == "kept"
        # The warnings section is kept when it has nothing new (a loaded machine can add a
        # warning event meanwhile: then it must have been replaced, as it changed).
        same = w.page.evaluate(WARNINGS_HTML) == warnings_before
        tag = w.page.evaluate("document.querySelectorAll('#live > section')[3].tag")
        assert tag == ("kept" if same else None)
        w.shot("overview-scaled")
        assert w.errors == []


class TestDetailPages:
    def test_pod_page_shows_events_and_logs(self, cluster: ServiceRun, browser: Any) -> None:
        """talker's page shows its containers, its Started event, its log tail and source file."""
        w = Watched(browser)
        w.page.goto(cluster.ui_url + "/pods/default/talker")
        logs = w.page.locator("pre.logs[data-container=main]")
        assert "hello-from-talker" in logs.inner_text()
        events = w.page.locator("table.events").inner_text()
        assert "Scheduled" in events and "Started" in events
        assert w.page.locator("#containers .restarts").inner_text() == "0"
        assert w.page.locator(".source-file").inner_text().startswith("talker.yaml")
        assert "Name:" in w.page.locator("pre.describe").inner_text()
        # The log line's markup is text, not an element.
        assert w.page.locator("#hostile").count() == 0
        assert "<b id=hostile>not bold</b>" in logs.inner_text()
        w.shot("pod")
        assert w.errors == []

    def test_owner_links_and_every_page(self, cluster: ServiceRun, browser: Any) -> None:
        """A replica links to its RC; every list page and detail kind renders, one screenshot."""
        w = Watched(browser)
        replica = next(p["metadata"]["name"] for p in cluster.running()
                       if p["metadata"]["name"].startswith("web-"))
        w.page.goto(cluster.ui_url + f"/pods/default/{replica}")
        w.page.click(".owners a")
        w.page.wait_for_url("**/replicationcontrollers/default/web")
        assert replica in table_keys(w.page)[0] or f"default/{replica}" in table_keys(w.page)
        w.shot("replicationcontroller")
        for path, name in [("/pods", "pods"), ("/replicationcontrollers", "rcs"),
                           ("/replicasets", "rss"), ("/services", "services"),
                           ("/endpoints", "endpoints"), ("/nodes", "nodes"),
                           ("/events", "events"), ("/nodes/local", "node"),
                           ("/services/default/web", "service"),
                           ("/namespaces", "namespaces"), ("/namespaces/team", "namespace"),
                           ("/statefulsets", "statefulsets"),
                           ("/api/pods/default/talker", "api-pod")]:
            response = w.page.goto(cluster.ui_url + path)
            assert response is not None and response.status == 200, path
            w.shot(name)
        w.page.goto(cluster.ui_url + "/services")
        row = w.page.locator("tr[data-key='default/web']").inner_text()
        assert "80/TCP" in row and "10.96." in row
        assert w.errors == []

    def test_statefulset_and_its_claims(self, cluster: ServiceRun, browser: Any) -> None:
        """A StatefulSet's page lists uidb-0 and uidb-1, which link back; its claims are Bound."""
        w = Watched(browser)
        w.page.goto(cluster.ui_url + "/statefulsets/team/uidb")
        body = w.page.locator("main").inner_text()
        assert "uidb-0" in body and "uidb-1" in body and "data" in body
        w.shot("statefulset")
        w.page.goto(cluster.ui_url + "/pods/team/uidb-1")
        w.page.click(".owners a")
        w.page.wait_for_url("**/statefulsets/team/uidb")
        w.page.goto(cluster.ui_url + "/persistentvolumeclaims?namespace=team")
        rows = {k: w.page.locator(f"tr[data-key='{k}']").inner_text()
                for k in table_keys(w.page)}
        assert set(rows) == {"team/data-uidb-0", "team/data-uidb-1"}
        assert all("Bound" in r and "1Gi" in r for r in rows.values())
        w.shot("claims")
        assert w.errors == []

    def test_hostile_annotation_is_escaped(self, cluster: ServiceRun, browser: Any) -> None:
        """An annotation holding markup shows as text on the RC's page and never runs."""
        w = Watched(browser)
        w.page.goto(cluster.ui_url + "/replicationcontrollers/default/web")
        time.sleep(2)  # at least one live refresh swapped the content in
        assert HOSTILE in w.page.locator("pre.describe").inner_text()
        assert w.page.evaluate("window.pwned") is None
        assert w.page.locator("main img").count() == 0

    @pytest.mark.parametrize("path", [
        "/pods/default/%3Cimg%20src%3Dx%20onerror%3D%22window.pwned%3D1%22%3E",
        "/pods?selector=%3Cimg%20src%3Dx%20onerror%3D%22window.pwned%3D1%22%3E",
        "/%3Cimg%20src%3Dx%20onerror%3D%22window.pwned%3D1%22%3E",
    ])
    def test_hostile_url_is_escaped(self, cluster: ServiceRun, browser: Any, path: str) -> None:
        """A name, resource or selector in the URL holding markup is echoed as text only."""
        w = Watched(browser)
        w.page.goto(cluster.ui_url + path)
        shown = w.page.locator(".error").inner_text()
        shown += w.page.locator("input[name=selector]").input_value()
        assert "<img" in shown
        assert w.page.evaluate("window.pwned") is None
        assert w.page.locator("main img").count() == 0

    def test_replica_shows_its_controllers_manifest(self, cluster: ServiceRun,
                                                    browser: Any) -> None:
        """A replica's source is the file of the RC whose template made it."""
        w = Watched(browser)
        replica = next(p["metadata"]["name"] for p in cluster.running()
                       if p["metadata"]["name"].startswith("web-"))
        w.page.goto(cluster.ui_url + f"/pods/default/{replica}")
        source = w.page.locator(".source-file").inner_text()
        assert source.startswith("web-rc.yaml") and "ReplicationController/web" in source


class TestFilters:
    def test_label_selector_and_namespace(self, cluster: ServiceRun, browser: Any) -> None:
        """The selector keeps app=web pods only; the namespace filter shows team's pods only."""
        w = Watched(browser)
        w.page.goto(cluster.ui_url + "/pods")
        w.page.fill("input[name=selector]", "app=web")
        w.page.click("button[type=submit]")
        w.page.wait_for_url("**selector=app%3Dweb*")
        keys = table_keys(w.page)
        assert len(keys) == 2 and all(k.startswith("default/web-") for k in keys), keys
        w.shot("pods-selector")
        w.page.fill("input[name=selector]", "")
        w.page.select_option("select[name=namespace]", "team")
        w.page.click("button[type=submit]")
        w.page.wait_for_url("**namespace=team*")
        assert table_keys(w.page) == ["team/teamer", "team/uidb-0", "team/uidb-1"]
        w.page.goto(cluster.ui_url + "/pods?namespace=default&selector=app+in+(web,talker),!tier")
        keys = table_keys(w.page)
        assert len(keys) == 3 and "default/talker" in keys and all("grow" not in k for k in keys)
        w.page.goto(cluster.ui_url + "/pods?selector=app+in+(web")
        assert "selector" in w.page.locator(".error").inner_text()
        assert w.errors == [] or all("400" in e for e in w.errors)


class TestApi:
    @pytest.mark.parametrize(("api", "cli"), [
        ("/api/pods?namespace=default", ("get", "pods", "-n", "default")),
        ("/api/pods", ("get", "pods", "-A")),
        ("/api/replicationcontrollers?selector=app%3Dweb", ("get", "rc", "-A", "-l", "app=web")),
        ("/api/services?namespace=default", ("get", "svc")),
        ("/api/pods/default/talker", ("get", "pod", "talker")),
        ("/api/endpoints?namespace=default", ("get", "endpoints")),
    ])
    def test_same_objects_as_get_json(self, cluster: ServiceRun, api: str,
                                      cli: tuple[str, ...]) -> None:
        """`/api/...` returns exactly what `reconciler get ... -o json` prints."""
        def same() -> bool:
            mine = get_json(cluster.ui_url + api)
            theirs = json.loads(cluster.cli(*cli, "-o", "json").stdout)
            return bool(mine == theirs)

        wait_until(same, timeout=10, what=f"{api} equal to reconciler {' '.join(cli)}")

    def test_nodes_match_but_for_heartbeats(self, cluster: ServiceRun) -> None:
        """Nodes are the same objects; only the heartbeat time may move between the reads."""
        mine = get_json(cluster.ui_url + "/api/nodes")
        theirs = json.loads(cluster.cli("get", "nodes", "-o", "json").stdout)
        assert [n["metadata"] for n in mine["items"]] == [n["metadata"] for n in theirs["items"]]

    def test_bad_selector_is_a_status(self, cluster: ServiceRun) -> None:
        """A selector that does not parse answers 400 with the parser's message."""
        status, body = http("GET", cluster.ui_url + "/api/pods?selector=app+in+(web")
        assert status == 400 and json.loads(body)["reason"] == "BadRequest"

    def test_missing_object_is_a_status(self, cluster: ServiceRun) -> None:
        """An unknown name answers 404 with a Kubernetes Status, as the API server does."""
        status, body = http("GET", cluster.ui_url + "/api/pods/default/nope")
        assert status == 404 and json.loads(body)["reason"] == "NotFound"


class TestReadOnly:
    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
    @pytest.mark.parametrize("path", ["/", "/api/pods", "/api/pods/default/talker",
                                      "/pods/default/talker", "/static/ui.js"])
    def test_writes_are_refused(self, cluster: ServiceRun, method: str, path: str) -> None:
        """Every method but GET and HEAD answers 405, and the pod stays."""
        status, _ = http(method, cluster.ui_url + path)
        assert status == 405
        assert get_json(cluster.ui_url + "/api/pods/default/talker")["metadata"]["name"]

    def test_no_secrets_anywhere(self, cluster: ServiceRun) -> None:
        """A Secret manifest leaves no value in any page or API answer; /api/secrets is 404."""
        assert http("GET", cluster.ui_url + "/api/secrets")[0] == 404
        for path in ["/", "/events", "/api/events", "/pods", "/api/pods",
                     "/api/replicationcontrollers", "/api/services"]:
            status, body = http("GET", cluster.ui_url + path)
            assert status == 200, path
            assert SECRET_B64 not in body and SECRET_PLAIN not in body
            assert "supersecret" not in body, path

    def test_listens_on_loopback_only(self, cluster: ServiceRun) -> None:
        """The configured 127.0.0.1 address is the only one bound."""
        port = cluster.ui_url.rsplit(":", 1)[1]
        out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                             text=True, check=False).stdout
        local = [line.split()[3] for line in out.splitlines() if line.strip()]
        assert local == [f"127.0.0.1:{port}"], out


class TestWarnings:
    def test_broken_manifest_shows_as_warning_and_stale(self, cluster: ServiceRun,
                                                        browser: Any) -> None:
        """A bad edit to grow's file appears live among recent warnings; its page says stale."""
        w = Watched(browser)
        w.page.goto(cluster.ui_url + "/")
        path = cluster.write("grow-rc.yaml", rc_yaml("grow", 3).replace(
            "replicas: 3", "replicas: many"))
        try:
            w.page.wait_for_function(
                """() => [...document.querySelectorAll('tr.event-warning')].some(
                    r => r.textContent.includes('InvalidManifest')
                         && r.textContent.includes('replicationcontroller/grow'))""",
                timeout=30_000)
            w.shot("overview-warning")
            w.page.goto(cluster.ui_url + "/replicationcontrollers/default/grow")
            assert "stale" in w.page.locator(".source-file").inner_text()
            w.shot("replicationcontroller-stale")
            assert w.errors == []
        finally:
            path.write_text(rc_yaml("grow", 3))
