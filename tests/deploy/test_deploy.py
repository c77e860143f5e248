"""The deployment files in compose/ (Dockerfile, docker-compose.yml, the k8s
kustomize layout) parse, validate and are wired right, without a container
runtime:

- `docker-compose config` reads the compose file; yamllint passes; every
  Kubernetes object validates against the schema of its kind and API version
  (kubernetes-models, pinned in tests/deploy/package-lock.json, installed with
  `npm ci` under the build directory), unknown fields included;
- the wiring: the compose services and the k8s workloads run as local
  processes with their exact command lines and environments, every reference
  resolved by tests/deploy/wiring.py (which fails on any it cannot resolve),
  health checks and probes as written, then the example client (the Python
  hello world) through the store service's socket, and the round trip checked
  through the REST API with the cluster token;
- the image recipe: the Dockerfile's build stage runs in a fresh clone, and
  the runtime stage's packages provide every library `ldd` finds for each
  shipped binary (dpkg -S).

scripts/test.sh runs this file with the venv python that holds the mooncake
package (MC_PYTHON_REQUIRED=1)."""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wiring  # noqa: E402
from wiring import ResolveError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = wiring.ROOT
BUILD_DIR = os.path.abspath(os.environ.get("MC_BUILD_DIR", os.path.join(ROOT, "build", "dev")))
HELLO = b"Hello, Mooncake Store!"


def have_mooncake():
    try:
        import mooncake.store  # noqa: F401
        return True
    except ImportError:
        if os.environ.get("MC_PYTHON_REQUIRED"):
            raise
        return False


@pytest.fixture
def tree():
    tmp = tempfile.mkdtemp(prefix="mcd-", dir="/tmp")  # short: socket paths live under it
    try:
        t, tokens = wiring.prepare_tree(tmp)
        yield tmp, t, tokens
    finally:
        for root, dirs, files in os.walk(tmp):
            for n in dirs + files:
                try:
                    os.chmod(os.path.join(root, n), 0o700)
                except OSError:
                    pass
        shutil.rmtree(tmp, ignore_errors=True)


def base_addr():
    """A loopback /24 of its own for this run (127.a.b.*)."""
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}."


# ------------------------------------------------------------- parse, lint

def test_compose_config_parses_and_binds_loopback(tree):
    _, t, _ = tree
    cfg, _ = wiring.compose_config(t)
    svcs = cfg["services"]
    assert {"metadata", "master", "store-1", "store-2", "client"} <= set(svcs)
    for name, s in svcs.items():
        for p in s.get("ports", []):
            assert host_ip(p) == "127.0.0.1", f"{name} publishes {p} beyond loopback by default"
        if name != "client":
            assert s.get("healthcheck"), name
            assert any("/health" in a for a in s["healthcheck"]["test"]), name
            assert {x["source"] for x in s.get("secrets", [])} == {"cluster_token", "admin_token"}, name
            assert s["environment"]["MOONCAKE_AUTH_TOKEN_FILE"].startswith("/run/secrets/")
        for dep, d in (s.get("depends_on") or {}).items():
            assert d["condition"] == "service_healthy", f"{name} -> {dep}"
        assert s.get("read_only") and s.get("cap_drop") == ["ALL"], name
        assert s.get("user") and not s["user"].startswith("0"), name
    for n in ("store-1", "store-2"):
        vols = {v["target"]: v for v in map(wiring.compose_volume, svcs[n]["volumes"])}
        assert vols["/var/lib/mooncake/ssd"]["type"] == "volume"  # the SSD tier's place
        assert vols["/run/mooncake"]["source"] == "ipc"
    assert {v["source"] for v in map(wiring.compose_volume, svcs["client"]["volumes"])
            if v["type"] == "volume"} == {"ipc"}
    # MC_BIND publishes elsewhere when asked
    cfg, _ = wiring.compose_config(t, {"MC_BIND": "0.0.0.0"})
    assert host_ip(cfg["services"]["master"]["ports"][0]) == "0.0.0.0"


def host_ip(p):
    if isinstance(p, dict):
        return p.get("host_ip", "0.0.0.0")
    parts = str(p).split(":")
    return parts[0] if len(parts) == 3 else "0.0.0.0"


def test_yamllint():
    r = subprocess.run(["yamllint", "-s", "-c", os.path.join(ROOT, "compose", ".yamllint"),
                        os.path.join(ROOT, "compose")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="session")
def node_modules():
    """kubernetes-models from the lockfile, installed once per lockfile under the build dir."""
    cache = os.path.join(BUILD_DIR, "deploy-npm")
    lock = open(os.path.join(HERE, "package-lock.json"), "rb").read()
    stamp = os.path.join(cache, "lock.sha256")
    digest = hashlib.sha256(lock + open(os.path.join(HERE, "package.json"), "rb").read()).hexdigest()
    if not (os.path.exists(stamp) and open(stamp).read() == digest and
            os.path.isdir(os.path.join(cache, "node_modules", "kubernetes-models"))):
        shutil.rmtree(cache, ignore_errors=True)
        os.makedirs(cache)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(HERE, f), cache)
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=cache,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"npm ci failed: {r.stdout}{r.stderr}"
        open(stamp, "w").write(digest)
    return os.path.join(cache, "node_modules")


def validate(node_modules, objs):
    env = dict(os.environ, NODE_PATH=node_modules)
    r = subprocess.run(["node", os.path.join(HERE, "validate_k8s.js")], env=env, cwd=node_modules,
                       input=json.dumps([{"file": f, "doc": d} for f, d in objs]),
                       capture_output=True, text=True, timeout=120)
    try:
        return r.returncode, json.loads(r.stdout)
    except ValueError:
        raise AssertionError(f"validate_k8s.js: rc {r.returncode}: {r.stdout}{r.stderr}")


def test_k8s_manifests_validate_against_their_schemas(tree, node_modules):
    _, t, _ = tree
    objs = wiring.kustomize(os.path.join(t, "k8s"))
    kinds = sorted({(d["apiVersion"], d["kind"]) for _, d in objs})
    for want in [("apps/v1", "Deployment"), ("apps/v1", "DaemonSet"), ("v1", "Service"),
                 ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Namespace"), ("batch/v1", "Job"),
                 ("policy/v1", "PodDisruptionBudget"), ("networking.k8s.io/v1", "NetworkPolicy")]:
        assert want in kinds
    rc, res = validate(node_modules, objs)
    bad = [f"{r['file']} {r['kind']}/{r['name']}: {e}" for r in res for e in r["errors"]]
    assert rc == 0 and not bad, "\n".join(bad)
    # the validator can fail: a wrong type and an unknown field are caught
    src, dep = next((f, d) for f, d in objs if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(dep))
    broken["spec"]["replicas"] = "1"
    broken["spec"]["template"]["spec"]["containers"][0]["envv"] = []
    rc, res = validate(node_modules, [(src, broken)])
    errs = res[0]["errors"]
    assert rc != 0 and any("replicas" in e for e in errs) and any("envv" in e for e in errs), errs


def _with_hugepages(t):
    k = os.path.join(t, "k8s", "kustomization.yaml")
    os.chmod(k, 0o644)
    with open(k, "a") as f:
        f.write("components:\n  - components/hugepages\n")
    return wiring.kustomize(os.path.join(t, "k8s"))


def test_k8s_hugepages_component(tree, node_modules):
    """components/hugepages: the DaemonSet with it validates, asks for
    hugepages-2Mi (requests = limits, as Kubernetes requires) and turns the
    store's huge pages on; the wiring still runs (the service falls back to
    normal pages where none are reserved)."""
    tmp, t, tokens = tree
    objs = _with_hugepages(t)
    rc, res = validate(node_modules, objs)
    assert rc == 0, [r for r in res if r["errors"]]
    ds = next(d for _, d in objs if d["kind"] == "DaemonSet")
    store = next(c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "store")
    res_ = store["resources"]
    assert res_["requests"]["hugepages-2Mi"] == res_["limits"]["hugepages-2Mi"]
    assert {"name": "MC_STORE_HUGEPAGES", "value": "true"} in store["env"]
    assert any(e["name"] == "POD_IP" for e in store["env"])  # merged, not replaced
    if have_mooncake():
        w = wiring.k8s_world(objs, tmp, base_addr())
        run_world(w, k8s_order(w), tokens)


def test_k8s_manifests_policy(tree):
    """What issue #14 asks of the manifests, checked on the objects kustomize makes."""
    _, t, _ = tree
    objs = [d for _, d in wiring.kustomize(os.path.join(t, "k8s"))]
    get = {(d["kind"], d["metadata"]["name"]): d for d in objs}
    master = get[("Deployment", "mooncake-master")]
    assert master["spec"]["replicas"] == 1 and master["spec"]["strategy"]["type"] == "Recreate"
    ds = get[("DaemonSet", "mooncake-store")]
    assert ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] >= 1
    assert ds["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 30
    pdbs = [d for d in objs if d["kind"] == "PodDisruptionBudget"]
    assert len(pdbs) == 1 and pdbs[0]["apiVersion"] == "policy/v1"
    assert pdbs[0]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "store"
    svc_ports = {p["name"] for p in get[("Service", "mooncake-master")]["spec"]["ports"]}
    assert {"api", "metrics"} <= svc_ports
    for d in objs:
        if d["kind"] not in ("Deployment", "DaemonSet", "Job"):
            continue
        pod = d["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True and psc.get("fsGroup") == 10001, d["metadata"]["name"]
        for v in pod.get("volumes", []):
            if "secret" in v:
                assert v["secret"].get("defaultMode") == 0o400, v
        for c in pod["containers"] + pod.get("initContainers", []):
            sc = c.get("securityContext", {})
            assert sc.get("readOnlyRootFilesystem") is True, c["name"]
            assert sc.get("allowPrivilegeEscalation") is False, c["name"]
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], c["name"]
            r = c.get("resources", {})
            assert r.get("requests") and r.get("limits"), c["name"]
        if d["kind"] != "Job":
            ann = d["spec"]["template"]["metadata"].get("annotations", {})
            assert ann.get("prometheus.io/scrape") == "true", d["metadata"]["name"]
            for c in pod["containers"]:
                for p in ("readinessProbe", "livenessProbe"):
                    assert c[p]["httpGet"]["path"] == "/health", (c["name"], p)
    # the socket's directory: one hostPath shared by the DaemonSet and the client,
    # whose group is the one the store admits
    store_vols = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    job = get[("Job", "mooncake-hello")]["spec"]["template"]["spec"]
    job_vols = {v["name"]: v for v in job["volumes"]}
    assert store_vols["ipc"]["hostPath"]["path"] == job_vols["ipc"]["hostPath"]["path"]
    assert "hostPath" in store_vols["ssd"] or "persistentVolumeClaim" in store_vols["ssd"]
    cm = get[("ConfigMap", "mooncake-store")]["data"]
    assert str(job["securityContext"]["runAsGroup"]) in cm["MC_STORE_IPC_ALLOWED_GIDS"].split(",")
    np_ = get[("NetworkPolicy", "mooncake")]
    froms = np_["spec"]["ingress"][0]["from"]
    assert {tuple(sorted(f["podSelector"]["matchLabels"].items())) for f in froms} == {
        (("app.kubernetes.io/component", "store"), ("app.kubernetes.io/name", "mooncake")),
        (("mooncake.io/client", "true"),)}
    assert job["securityContext"]["runAsGroup"] == 10001
    assert get[("Job", "mooncake-hello")]["spec"]["template"]["metadata"]["labels"]["mooncake.io/client"] == "true"


def test_dockerfile_static():
    stages = wiring.dockerfile_stages()
    assert len(stages) == 2 and stages[0][0] == "build"
    for name, ins in stages:
        assert ins[0] == ("FROM", "debian:bookworm-slim"), name
    runtime = dict((i, a) for i, a in stages[1][1])
    assert re.fullmatch(r"\d+(:\d+)?", runtime["USER"]) and not runtime["USER"].startswith("0")
    assert "/health" in runtime["HEALTHCHECK"]
    text = open(os.path.join(ROOT, "compose", "Dockerfile")).read()
    assert not re.search(r"\.token|TOKEN=|AUTH_TOKEN_FILE=", text), "no secret baked into the image"
    build_runs = [a for i, a in stages[0][1] if i == "RUN"]
    assert any("scripts/setup.sh" in r for r in build_runs)


# ------------------------------------------------------------- the wiring

class Runner:
    """Starts a World's containers as processes and stops them."""

    def __init__(self, world, logdir):
        self.w = world
        self.logdir = logdir
        self.procs = {}
        os.makedirs(logdir, exist_ok=True)

    def env(self, c):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        for cpath, hpath in c.mounts:
            if cpath == "/tmp":
                env["TMPDIR"] = hpath
        env.update(c.env)
        return env

    def log(self, c):
        return os.path.join(self.logdir, c.name.replace("/", "_") + ".log")

    def ids(self, user):
        """Popen arguments running a process as its declared user (as root only)."""
        if not (self.w.as_root and user):
            return {}
        uid, gid, groups = user
        return {"user": uid, "group": gid, "extra_groups": list(groups)}

    def start(self, c):
        # init containers first, each to completion (as root only: they change owners)
        for name, argv, user in (c.init if self.w.as_root else []):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=self.w.tmp,
                               env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, **self.ids(user))
            assert r.returncode == 0, f"{name} exited {r.returncode}: {r.stdout}{r.stderr}"
        f = open(self.log(c), "ab")
        self.procs[c.name] = subprocess.Popen(c.argv, env=self.env(c), stdout=f, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, start_new_session=True,
                                              cwd=self.w.tmp, **self.ids(c.user))
        f.close()

    def tail(self, c, n=20):
        try:
            return "".join(open(self.log(c), errors="replace").readlines()[-n:])
        except OSError:
            return ""

    def check(self, c, check):
        if check[0] == "cmd":
            return subprocess.run(check[1], capture_output=True, timeout=10).returncode == 0
        _, port, path = check
        try:
            with urllib.request.urlopen(f"http://{c.addr}:{port}{path}", timeout=5) as r:
                return 200 <= r.status < 400
        except (urllib.error.URLError, OSError):
            return False

    def wait_healthy(self, c, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            p = self.procs[c.name]
            if p.poll() is not None:
                raise AssertionError(f"{c.name} exited with {p.returncode}:\n{self.tail(c)}")
            if all(self.check(c, h) for h in c.health):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{c.name} not healthy after {timeout} s ({c.health}):\n{self.tail(c)}")
            time.sleep(0.2)
        for h in c.liveness:  # liveness probes and the scrape target answer too
            assert self.check(c, h), f"{c.name}: {h} fails while ready:\n{self.tail(c)}"
        for port in sorted(set(c.ports.values())):  # every declared port is listened on
            with socket.socket() as s:
                s.settimeout(3)
                assert s.connect_ex((c.addr, port)) == 0, f"{c.name} declares port {port} but does not listen"

    def run_oneshot(self, c, timeout=90):
        r = subprocess.run(c.argv, env=self.env(c), capture_output=True, timeout=timeout, cwd=self.w.tmp,
                           **self.ids(c.user))
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def stop_all(self):
        codes = {}
        for name, p in reversed(list(self.procs.items())):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in self.procs.items():
            try:
                codes[name] = p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                codes[name] = p.wait()
        return codes


def get(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check_round_trip(w, client, out, tokens):
    """The hello world's value is in the cluster, put through the store whose
    socket the client used; every store service reads it back with the token,
    and refuses without one."""
    assert HELLO.decode() in out, out
    sock = client.env["MOONCAKE_IPC_SOCKET"]
    stores = [c for c in w.containers if c.argv and c.argv[0].endswith("mooncake_store_service")]
    assert stores
    via = [c for c in stores if c.env.get("MOONCAKE_IPC_SOCKET") == sock]
    assert len(via) == 1, f"no store service serves the client's socket {sock}"
    for c in stores:
        port = int(c.env["MC_STORE_REST_PORT"])
        st, body = get(f"http://{c.addr}:{port}/api/get/hello_key", tokens["cluster"])
        assert (st, body) == (200, HELLO), (c.name, st, body)
        st, _ = get(f"http://{c.addr}:{port}/api/get/hello_key")
        assert st == 401, f"{c.name} answers without a token ({st})"
    port = int(via[0].env["MC_STORE_REST_PORT"])
    st, metrics = get(f"http://{via[0].addr}:{port}/metrics")
    m = re.search(rb"^mc_store_ipc_connections_total (\d+)", metrics, re.M)
    assert st == 200 and m and int(m.group(1)) >= 1, "the client did not come through the socket"


def ports_free(w):
    """The files' own ports on each container's address (a process holding one
    on every address, 0.0.0.0, would make the run fail for a reason not its own)."""
    for c in w.containers:
        for port in sorted(set(c.ports.values())):
            with socket.socket() as s:
                try:
                    s.bind((c.addr, port))
                except OSError as e:
                    pytest.fail(f"{c.addr}:{port} ({c.name}) cannot be bound: {e} "
                                f"(another process listens on port {port} on every address)")


def run_world(w, order, tokens):
    ports_free(w)
    r = Runner(w, os.path.join(w.tmp, "logs"))
    clients = []
    by = {c.name: c for c in w.containers}
    healthy = set()

    def ensure_healthy(c):
        if c.name not in healthy:
            assert c.name in r.procs, f"{c.name} is needed healthy but was not started before"
            r.wait_healthy(c)
            healthy.add(c.name)
    try:
        for c in order:
            for dep, _cond in c.deps:  # compose: started once these are healthy
                ensure_healthy(by[dep])
            if c.oneshot:
                clients.append(c)
            else:
                r.start(c)
        for c in order:
            if not c.oneshot:
                ensure_healthy(c)
        assert clients, "no example client"
        for c in clients:
            rc, out, err = r.run_oneshot(c)
            assert rc == 0, f"{c.name} exited {rc}:\n{out}\n{err}\n" + "".join(
                f"--- {x.name}\n{r.tail(x)}" for x in w.containers if not x.oneshot)
            check_round_trip(w, c, out, tokens)
    finally:
        codes = r.stop_all()
    bad = {n: rc for n, rc in codes.items() if rc != 0}
    assert not bad, f"services did not stop cleanly on SIGTERM: {bad}"


def compose_order(w):
    """depends_on order (compose starts a service once its dependencies are healthy)."""
    by = {c.name: c for c in w.containers}
    done, out = set(), []

    def visit(c, stack=()):
        if c.name in done:
            return
        if c.name in stack:
            raise ResolveError(f"depends_on cycle through {c.name}")
        for dep, cond in c.deps:
            if cond != "service_healthy":
                raise ResolveError(f"{c.name}: depends_on {dep} is {cond}, not service_healthy")
            visit(by[dep], stack + (c.name,))
        done.add(c.name)
        out.append(c)
    for c in w.containers:
        visit(c)
    return out


def test_compose_wiring(tree):
    """docker-compose.yml's services as processes; store-1's socket, the hello world."""
    if not have_mooncake():
        pytest.skip("the mooncake package is not installed (make test installs it into a venv)")
    tmp, t, tokens = tree
    # compose's own interpolation sizes the segments down for the test
    cfg, _ = wiring.compose_config(t, {"MOONCAKE_GLOBAL_SEGMENT_SIZE": "64MB"})
    w = wiring.compose_world(cfg, tmp, base_addr())
    run_world(w, compose_order(w), tokens)


def k8s_order(w):
    rank = {"deployment": 0, "daemonset": 1, "statefulset": 1, "job": 2}
    return sorted(w.containers, key=lambda c: rank[c.name.split("/")[0]])


def test_k8s_wiring(tree):
    """The kustomize layout's workloads as processes: Deployments, the store
    DaemonSet (pod IP from the downward API, the hostPath socket directory),
    then the example Job through that socket."""
    if not have_mooncake():
        pytest.skip("the mooncake package is not installed (make test installs it into a venv)")
    tmp, t, tokens = tree
    w = wiring.k8s_world(wiring.kustomize(os.path.join(t, "k8s")), tmp, base_addr())
    run_world(w, k8s_order(w), tokens)


def _mutate(path, old, new):
    s = open(path).read()
    assert old in s, (path, old)
    os.chmod(path, 0o644)
    open(path, "w").write(s.replace(old, new, 1))


@pytest.mark.parametrize("file,old,new,why", [
    ("k8s/configmap.yaml", "mooncake-master:50051", "mooncake-master:50052", "has no port 50052"),
    ("k8s/configmap.yaml", "http://mooncake-metadata:8080", "http://mooncake-metadta:8080",
     "cannot resolve host name"),
    ("k8s/master.yaml", "key: MC_LOG_LEVEL", "key: MC_LOG_LEVL", "key MC_LOG_LEVL does not exist"),
    ("k8s/store.yaml", "secretName: mooncake-tokens", "secretName: mooncake-token", "does not exist"),
    ("k8s/store.yaml", "value: $(POD_IP):12345", "value: $(POD_IPX):12345", "unexpanded reference"),
    ("k8s/example-client.yaml", "mountPath: /run/mooncake", "mountPath: /run/mooncake2",
     "is under no volume"),
    ("k8s/master.yaml", "targetPort: metrics", "targetPort: metric", "is not a port"),
    ("docker-compose.yml", 'MC_METADATA_PORT: "8080"', 'MC_METADATA_PROT: "8080"',
     "MC_METADATA_PROT is not a variable of mooncake_http_metadata_server"),
    ("k8s/configmap.yaml", "MOONCAKE_PROTOCOL: tcp", "MOONCAKE_PROTOCOLL: tcp",
     "MOONCAKE_PROTOCOLL is not a variable of mooncake_store_service"),
    ("k8s/store.yaml", "--max_reply_memory=256MB", "--max_reply_mem=256MB", "--max_reply_mem is not a flag"),
    ("docker-compose.yml", "MOONCAKE_MASTER: master:50051", "MOONCAKE_MASTER: master:50052",
     "not a port master declares"),
    ("docker-compose.yml", "http://metadata:8080/metadata", "http://metadat:8080/metadata",
     "cannot resolve host name"),
    ("docker-compose.yml", "      - ipc:/run/mooncake\n      # the same",
     "      - ipc:/run/mooncake2\n      # the same", "is under no volume"),
])
def test_wiring_refuses_unresolvable_references(tree, file, old, new, why):
    """The resolver fails on a wrong name, port, key or path (so does the suite)."""
    tmp, t, _ = tree
    _mutate(os.path.join(t, file), old, new)
    with pytest.raises((ResolveError, AssertionError)) as e:
        if file.startswith("k8s/"):
            wiring.k8s_world(wiring.kustomize(os.path.join(t, "k8s")), tmp, base_addr())
        else:
            cfg, _ = wiring.compose_config(t)
            wiring.compose_world(cfg, tmp, base_addr())
    assert why in str(e.value), str(e.value)


def test_k8s_wiring_fails_on_a_wrong_port_variable(tree):
    """A wrong setting resolves fine but the service then listens elsewhere:
    the run fails (its probe, its scrape target, its declared port)."""
    if not have_mooncake():
        pytest.skip("the mooncake package is not installed (make test installs it into a venv)")
    tmp, t, tokens = tree
    _mutate(os.path.join(t, "k8s/master.yaml"), 'value: "9003"', 'value: "9004"')
    w = wiring.k8s_world(wiring.kustomize(os.path.join(t, "k8s")), tmp, base_addr())
    master = next(c for c in w.containers if "master" in c.name)
    w.containers = [master]  # the master alone shows it
    r = Runner(w, os.path.join(tmp, "logs"))
    try:
        r.start(master)
        with pytest.raises(AssertionError):
            r.wait_healthy(master, timeout=15)
    finally:
        r.stop_all()


# ------------------------------------------------------------- the image

def _dpkg_owner(path):
    cands = {path, os.path.realpath(path)}
    for p in list(cands):
        if p.startswith("/usr/lib/"):
            cands.add(p[4:])
        elif p.startswith("/lib"):
            cands.add("/usr" + p)
    for p in sorted(cands):
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    return None


def _closure(pkgs):
    """The packages apt installs for pkgs (Depends and Pre-Depends, from this host's dpkg)."""
    seen, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Depends}, ${Pre-Depends}", p],
                           capture_output=True, text=True)
        if r.returncode != 0 or "install ok installed" not in r.stdout:
            raise AssertionError(f"{p} is not installed here: cannot tell what it provides")
        seen.add(p)
        _, deps = r.stdout.split("\t")
        for alt in deps.split(","):
            alt = alt.strip()
            if not alt:
                continue
            # first alternative that is installed
            for a in alt.split("|"):
                name = re.split(r"[\s(:]", a.strip())[0]
                q = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
                if "install ok installed" in q.stdout:
                    todo.append(name)
                    break
    return seen


def test_image_recipe(tmp_path):
    """The Dockerfile's build stage in a fresh clone, then every shared library
    of every shipped ELF file is provided by the runtime stage's packages."""
    src = str(tmp_path / "src")
    r = subprocess.run(["git", "clone", "-q", "--no-hardlinks", ROOT, src], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    subprocess.run(["git", "-C", src, "checkout", "-q", head.strip()], check=True)
    stages = wiring.dockerfile_stages(os.path.join(src, "compose", "Dockerfile"))
    build = stages[0][1]
    workdir = None
    for instr, arg in build[1:]:
        if instr == "WORKDIR":
            workdir = arg
        elif instr == "COPY":
            assert arg.split() == [".", "."], f"build stage COPY {arg}: only the context is handled"
        elif instr == "RUN":
            env = {k: v for k, v in os.environ.items() if not k.startswith(("MOONCAKE_", "MC_"))}
            t0 = time.monotonic()
            r = subprocess.run(["/bin/sh", "-c", arg], cwd=src, env=env, capture_output=True, text=True,
                               timeout=1800)
            assert r.returncode == 0, f"RUN {arg[:200]} failed ({time.monotonic() - t0:.0f} s):\n" \
                                      f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        elif instr not in ("ENV", "ARG"):
            raise AssertionError(f"build stage {instr} not handled")
    runtime = stages[-1][1]
    pkgs = []
    copies = []
    for instr, arg in runtime:
        if instr == "RUN" and "apt-get install" in arg:
            seg = arg.split("apt-get install", 1)[1].split("&&")[0]
            pkgs += [w for w in seg.split() if not w.startswith("-")]
        if instr == "COPY" and arg.startswith("--from=build"):
            s, d = arg.split()[1:]
            assert s.startswith(workdir.rstrip("/") + "/"), s
            copies.append((os.path.join(src, s[len(workdir.rstrip("/")) + 1:]), d))
    assert pkgs and copies
    provided = _closure(pkgs)
    shipped = []
    for s, _ in copies:
        assert os.path.isdir(s), f"the runtime stage copies {s}, which the build stage did not make"
        for root, _, files in os.walk(s):
            for n in files:
                p = os.path.join(root, n)
                if not os.path.islink(p) and open(p, "rb").read(4) == b"\x7fELF":
                    shipped.append(p)
    names = {os.path.basename(p) for p in shipped}
    for want in ("mooncake_master", "mooncake_http_metadata_server", "mooncake_store_service",
                 "libmooncake_client.so.0.2.0"):
        assert any(n.startswith(want.split(".so")[0]) for n in names), f"{want} not shipped ({names})"
    assert any(n.startswith("_store") for n in names), "the Python extension is not shipped"
    missing, owners = [], set()
    for p in shipped:
        out = subprocess.run(["ldd", p], capture_output=True, text=True).stdout
        for line in out.splitlines():
            line = line.strip()
            if "not found" in line:
                m = re.match(r"(\S+)", line)
                libname = m.group(1)
                if not any(os.path.basename(x).startswith(libname) for x in shipped):
                    missing.append(f"{os.path.relpath(p, src)}: {line}")
                continue
            m = re.match(r"(?:\S+ => )?(/\S+) \(0x", line)
            if not m:
                continue
            lib = m.group(1)
            if lib.startswith(src):
                continue  # shipped by the image itself
            owner = _dpkg_owner(lib)
            owners.add(owner)
            if owner is None or owner not in provided:
                missing.append(f"{os.path.relpath(p, src)}: {lib} (package {owner})")
    assert not missing, "the runtime stage lacks:\n" + "\n".join(sorted(set(missing)))
    # and only what they need: every library package listed is linked
    unused = [p for p in pkgs if p.startswith("lib") and p not in owners]
    assert not unused, f"the runtime stage installs libraries nothing shipped links: {unused}"


@pytest.mark.parametrize("file,old,new,why", [
    ("k8s/configmap.yaml", 'MC_STORE_IPC_ALLOWED_GIDS: "10001"', 'MC_STORE_IPC_ALLOWED_GIDS: "10005"',
     "cannot attach"),  # the client's group is not admitted by the store service
    ("k8s/example-client.yaml", "runAsGroup: 10001", "runAsGroup: 10002", "cannot attach"),
    ("k8s/master.yaml", "        fsGroup: 10001\n", "", "Permission denied"),  # 0400 root-owned token
    ("k8s/store.yaml", "chmod 2770", "chmod 0700", "cannot attach"),  # the socket's directory
])
def test_k8s_wiring_fails_on_wrong_ids(tree, file, old, new, why):
    """Users, groups and modes are part of the wiring: as root the processes run
    as their declared users, so a group the store does not admit, a token file
    the service cannot read or a socket directory the client cannot enter fails
    the run (the client's attach wait is cut to 3 s here)."""
    if not have_mooncake():
        pytest.skip("the mooncake package is not installed (make test installs it into a venv)")
    if os.geteuid() != 0:
        pytest.skip("needs root: processes run as their declared users only when the test is root")
    tmp, t, tokens = tree
    _mutate(os.path.join(t, file), old, new)
    w = wiring.k8s_world(wiring.kustomize(os.path.join(t, "k8s")), tmp, base_addr())
    for c in w.containers:
        if c.oneshot:
            c.env["MC_HELLO_WAIT_S"] = "3"
    with pytest.raises(AssertionError) as e:
        run_world(w, k8s_order(w), tokens)
    assert why in str(e.value), str(e.value)[:2000]
