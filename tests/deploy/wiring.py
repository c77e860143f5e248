"""Turns compose/docker-compose.yml and the compose/k8s manifests into local
processes: each container's exact command line and environment, with every
reference resolved the way its runtime would, onto this host's loopback:

- each container (compose service, pod) gets a loopback address of its own
  (127.a.b.n), so every port stays the one the file names; its own wildcard
  or pod IP (0.0.0.0, the downward API's status.podIP) and, inside
  health checks, 127.0.0.1 become that address;
- compose service names and Kubernetes Service DNS names (name, name.ns,
  name.ns.svc, name.ns.svc.cluster.local) become the address of the one
  container behind them; a Service port becomes its targetPort (named ports
  looked up in the selected pod), and a port the target does not declare
  (compose `expose`, k8s `containerPort`) is an error;
- ConfigMap and Secret values (env valueFrom, envFrom) and files (volumes,
  written with their declared modes), compose secrets (mode from the long
  syntax) and bind mounts, named volumes, hostPath and emptyDir volumes
  become temporary files and directories; two containers naming the same
  named volume or hostPath share one directory;
- $(VAR) in a k8s env value or argument is expanded as the kubelet does.

Run as root, the test also gives every process the user, group and
supplementary groups its file declares (compose `user`, k8s runAsUser,
runAsGroup, fsGroup), runs the k8s init containers (as their runAsUser), and
sets up files the way the runtimes do: a named volume starts with the
image's owner and mode for its path, a hostPath directory is created
root-owned 0755, Secret and ConfigMap files are root-owned with the declared
mode and, under an fsGroup, group fsGroup and group-readable (the kubelet's
rule), compose secrets get the long syntax's uid, gid and mode. So a socket
group, an admitted gid or a token file a service cannot read fails the run.
As another user all processes run as that user and init containers do not run.

Anything that cannot be resolved (an unknown host name, a path under no
mount, a missing ConfigMap key, a Secret that does not exist, a port nobody
declares) raises ResolveError. Binaries are taken from MC_BIN_DIR, python3 is
the interpreter running the tests (the venv holding the mooncake package).
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPOSE_DIR = os.path.join(ROOT, "compose")
K8S_DIR = os.path.join(COMPOSE_DIR, "k8s")
BINARIES = ("mooncake_master", "mooncake_http_metadata_server", "mooncake_store_service")
NAMESPACED = {"ConfigMap", "Secret", "Deployment", "DaemonSet", "Service", "Job",
              "PodDisruptionBudget", "NetworkPolicy", "StatefulSet"}


class ResolveError(Exception):
    pass


_OPTIONS = {}


def binary_options(path):
    """(flags, env variables) a service binary knows: its --help_markdown table."""
    if path not in _OPTIONS:
        r = subprocess.run([path, "--help_markdown"], capture_output=True, text=True, timeout=30)
        flags, env = set(), set()
        for line in r.stdout.splitlines():
            cols = [x.strip() for x in line.strip().strip("|").split("|")]
            if len(cols) >= 5 and cols[0].startswith("`--"):
                flags.add(cols[0].strip("`")[2:])
                if cols[4]:
                    env.add(cols[4])
        if not flags:
            raise ResolveError(f"{path} --help_markdown lists no options")
        _OPTIONS[path] = (flags, env)
    return _OPTIONS[path]


def check_options(c, image_env_names):
    """Every --flag of a service's command line and every MC_*/MOONCAKE_*
    variable of its environment (besides the image's own ENV) is one the
    binary knows, so a misspelt name fails even where its value is the default."""
    if not c.argv or os.path.basename(c.argv[0]) not in BINARIES:
        return
    flags, env = binary_options(c.argv[0])
    for a in c.argv[1:]:
        m = re.match(r"--([\w-]+)", a)
        if m and m.group(1) not in flags:
            raise ResolveError(f"{c.name}: --{m.group(1)} is not a flag of {os.path.basename(c.argv[0])}")
    for k in c.env:
        if k.startswith(("MC_", "MOONCAKE_")) and k not in env and k not in image_env_names:
            raise ResolveError(f"{c.name}: {k} is not a variable of {os.path.basename(c.argv[0])} "
                               "(its --help_markdown)")


def write_file(path, data, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.chmod(path, 0o600)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def new_token():
    return os.urandom(24).hex()


def prepare_tree(tmp):
    """A copy of compose/ with the token files a deployment creates first
    (docs/deployment.md): compose/secrets/*.token and compose/k8s/secrets/*.token."""
    dst = os.path.join(tmp, "compose")
    shutil.copytree(COMPOSE_DIR, dst, ignore=shutil.ignore_patterns("*.token", "node_modules"))
    tokens = {"cluster": new_token(), "admin": new_token()}
    for d in (os.path.join(dst, "secrets"), os.path.join(dst, "k8s", "secrets")):
        for name, tok in tokens.items():
            write_file(os.path.join(d, f"{name}.token"), tok + "\n", 0o400)
    return dst, tokens


# ---------------------------------------------------------------- Dockerfile

def dockerfile_stages(path=None):
    """[(name, [(instruction, argument)])] with continuation lines joined."""
    stages = []
    text = open(path or os.path.join(COMPOSE_DIR, "Dockerfile")).read()
    text = re.sub(r"\\\n", " ", text)
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, arg = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", arg.strip(), re.I)
            stages.append((m.group(2) or "", [("FROM", m.group(1))]))
        elif stages:
            stages[-1][1].append((instr, arg.strip()))
    return stages


def image_paths():
    """{path: (uid, gid, mode)} the runtime stage's RUN lines chown/chmod."""
    out = {}
    for instr, arg in dockerfile_stages()[-1][1]:
        if instr != "RUN":
            continue
        for cmd in re.split(r"&&|;", arg):
            w = cmd.split()
            if len(w) >= 3 and w[0] == "chown" and re.fullmatch(r"\d+:\d+", w[1]):
                u, g = map(int, w[1].split(":"))
                for p in w[2:]:
                    out[p] = (u, g, out.get(p, (0, 0, 0o755))[2])
            elif len(w) >= 3 and w[0] == "chmod" and re.fullmatch(r"[0-7]+", w[1]):
                for p in w[2:]:
                    u, g, _ = out.get(p, (0, 0, 0))
                    out[p] = (u, g, int(w[1], 8))
    return out


def image_env():
    """ENV of the runtime (last) stage: part of every container's environment."""
    env = {}
    for instr, arg in dockerfile_stages()[-1][1]:
        if instr == "ENV":
            for m in re.finditer(r"(\w+)=(\"[^\"]*\"|\S+)", arg):
                env[m.group(1)] = m.group(2).strip('"')
    return env


# ---------------------------------------------------------------- containers

class Container:
    def __init__(self, name, addr):
        self.name = name
        self.addr = addr
        self.argv = []
        self.env = {}
        self.mounts = []  # (container path, host path)
        self.ports = {}  # port name or str(number) -> number
        self.health = []  # [("cmd", argv) | ("http", port, path)]
        self.liveness = []
        self.user = None  # (uid, gid, [supplementary gids]) as declared
        self.init = []  # [(name, argv, user)] k8s init containers
        self.deps = []  # compose depends_on: service_healthy
        self.oneshot = False
        self.labels = {}
        self.uid = None

    def port_declared(self, port):
        return int(port) in self.ports.values()


class World:
    """The containers of one deployment file set and how names resolve."""

    def __init__(self, tmp, base_addr):
        self.tmp = tmp
        self.base = base_addr  # "127.a.b."
        self.containers = []
        self.hosts = {}  # DNS name -> (container, {port: target port})
        self.shared = {}  # volume key -> host dir
        self.as_root = os.geteuid() == 0
        os.chmod(tmp, 0o755)
        self.bin_dir = os.path.abspath(os.environ.get("MC_BIN_DIR", os.path.join(ROOT, "build", "dev", "bin")))

    def new_container(self, name):
        c = Container(name, f"{self.base}{len(self.containers) + 2}")
        self.containers.append(c)
        return c

    def shared_dir(self, key, owner=None):
        """One directory per named volume or hostPath; owner (uid, gid, mode)
        when it is created (as root only)."""
        if key not in self.shared:
            d = os.path.join(self.tmp, "volumes", re.sub(r"[^\w.-]", "_", key))
            os.makedirs(d, exist_ok=True)
            os.chmod(os.path.dirname(d), 0o755)
            u, g, mode = owner or (os.geteuid(), os.getegid(), 0o755)
            if self.as_root:
                os.chown(d, u, g)
            os.chmod(d, mode)
            self.shared[key] = d
        return self.shared[key]

    def private_dir(self, c, *parts, mode=0o755, owner=None):
        d = os.path.join(self.tmp, "containers", re.sub(r"[^\w.-]", "_", c.name), *parts)
        os.makedirs(d, exist_ok=True)
        p = d
        while p != self.tmp:
            os.chmod(p, 0o755)
            p = os.path.dirname(p)
        if self.as_root and owner:
            os.chown(d, *owner)
        os.chmod(d, mode)
        return d

    def volume_file(self, path, data, mode, gid=None):
        """A Secret/ConfigMap/compose-secret file as the runtime writes it."""
        write_file(path, data, mode)
        if self.as_root:
            os.chown(path, 0, gid if gid is not None else 0)

    # -- resolving strings
    def host_port(self, c, host, port, where):
        """(address, port) a host:port written in container c's file maps to."""
        own = {"0.0.0.0", c.addr} | ({"127.0.0.1", "localhost"} if where == "health" else set())
        if host in own:
            if port is not None and not c.port_declared(port):
                raise ResolveError(f"{c.name}: {where} names its own port {port}, which it does not declare "
                                   f"(declared: {sorted(set(c.ports.values()))})")
            return c.addr, port
        if host in self.hosts:
            target, portmap = self.hosts[host]
            if port is not None:
                if portmap is not None:
                    if int(port) not in portmap:
                        raise ResolveError(f"{c.name}: {where}: {host} has no port {port} "
                                           f"(it has {sorted(portmap)})")
                    port = portmap[int(port)]
                if not target.port_declared(port):
                    raise ResolveError(f"{c.name}: {where}: {host}:{port} is not a port {target.name} declares")
            return target.addr, port
        if re.fullmatch(r"[\d.]+", host) or host.startswith("["):
            raise ResolveError(f"{c.name}: {where}: address {host} is neither its own nor a service's")
        raise ResolveError(f"{c.name}: {where}: cannot resolve host name {host!r}")

    def path(self, c, p, where):
        best = None
        for cpath, hpath in c.mounts:
            if p == cpath or p.startswith(cpath.rstrip("/") + "/"):
                if best is None or len(cpath) > len(best[0]):
                    best = (cpath, hpath)
        if best is None:
            raise ResolveError(f"{c.name}: {where}: path {p} is under no volume or mount "
                               f"(mounts: {[m[0] for m in c.mounts]})")
        return best[1] + p[len(best[0].rstrip("/")):]

    def value(self, c, v, where):
        v = str(v)
        m = re.fullmatch(r"(\w+)://([^/:\s]+)(?::(\d+))?(/\S*)?", v)
        if m:
            addr, port = self.host_port(c, m.group(2), m.group(3), where)
            return f"{m.group(1)}://{addr}" + (f":{port}" if port is not None else "") + (m.group(4) or "")
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9.-]*):(\d+)", v)
        if m:
            addr, port = self.host_port(c, m.group(1), m.group(2), where)
            return f"{addr}:{port}"
        if v.startswith("/"):
            return self.path(c, v, where)
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+|localhost", v):
            return self.host_port(c, v, None, where)[0]
        if "$(" in v:
            raise ResolveError(f"{c.name}: {where}: unexpanded reference in {v!r}")
        return v

    def argv(self, c, argv, where):
        out = []
        for i, a in enumerate(argv):
            if i == 0:
                out.append(self.program(c, a))
                continue
            m = re.fullmatch(r"(--?[\w-]+=)(.*)", a)
            if m:
                out.append(m.group(1) + self.value(c, m.group(2), f"{where} {m.group(1)[:-1]}"))
            elif a.startswith("-"):
                out.append(a)
            else:
                out.append(self.value(c, a, where))
        return out

    def program(self, c, prog):
        if prog in BINARIES:
            path = os.path.join(self.bin_dir, prog)
            if not os.access(path, os.X_OK):
                raise ResolveError(f"{c.name}: {path} is not built (MC_BIN_DIR)")
            return path
        if prog in ("python3", "/usr/bin/python3"):
            return sys.executable
        if prog == "curl":
            return shutil.which("curl") or prog
        raise ResolveError(f"{c.name}: program {prog!r} is not one the image ships")

    def resolve_env(self, c, env):
        return {k: self.value(c, v, f"env {k}") for k, v in env.items()}


# ---------------------------------------------------------------- compose

def compose_config(tree, extra_env=None):
    """`docker-compose config` of the copied tree: the file as compose reads it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOONCAKE_", "MC_"))}
    env.update(extra_env or {})
    r = subprocess.run(["docker-compose", "-f", os.path.join(tree, "docker-compose.yml"), "config"],
                       capture_output=True, text=True, env=env, cwd=tree, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"docker-compose config failed: {r.stderr}")
    return yaml.safe_load(r.stdout), r.stderr


def compose_volume(v):
    """A compose volume entry in its long form."""
    if isinstance(v, dict):
        return v
    parts = v.split(":")
    return {"source": parts[0], "target": parts[1],
            "type": "bind" if parts[0].startswith((".", "/")) else "volume"}


def compose_world(cfg, tmp, base_addr):
    w = World(tmp, base_addr)
    img_env = image_env()
    for name, svc in cfg["services"].items():
        c = w.new_container(name)
        w.hosts[name] = (c, None)
        c.labels = {"service": name}
        for p in svc.get("expose", []):
            c.ports[str(p)] = int(str(p).split("/")[0])
        for p in svc.get("ports", []):
            target = p["target"] if isinstance(p, dict) else int(str(p).rsplit(":", 1)[-1].split("/")[0])
            c.ports.setdefault(str(target), int(target))
        user = svc.get("user")
        if user:
            u, _, g = str(user).partition(":")
            if not (u.isdigit() and (not g or g.isdigit())):
                raise ResolveError(f"{name}: user {user!r}: only numeric uid:gid is handled")
            c.user = (int(u), int(g or u), [])
    for (name, svc), c in zip(cfg["services"].items(), w.containers):
        for t in svc.get("tmpfs", []) or []:
            c.mounts.append((t, w.private_dir(c, "tmpfs" + t.replace("/", "_"), mode=0o1777)))
        for s in svc.get("secrets", []) or []:
            s = s if isinstance(s, dict) else {"source": s}
            src = cfg.get("secrets", {}).get(s["source"])
            if not src or "file" not in src:
                raise ResolveError(f"{name}: secret {s['source']} is not defined with a file")
            if not os.path.isfile(src["file"]):
                raise ResolveError(f"{name}: secret file {src['file']} does not exist")
            target = s.get("target", s["source"])
            target = target if target.startswith("/") else "/run/secrets/" + target
            host = os.path.join(w.private_dir(c, "secrets"), os.path.basename(target))
            w.volume_file(host, open(src["file"], "rb").read(), int(s.get("mode", 0o444)))
            if w.as_root:  # the owner the docs have the host file chowned to
                os.chown(host, int(s.get("uid", 0)), int(s.get("gid", 0)))
            c.mounts.append((target, host))
        for v in svc.get("volumes", []) or []:
            v = compose_volume(v)
            if v["type"] == "volume":
                if v["source"] not in (cfg.get("volumes") or {}):
                    raise ResolveError(f"{name}: volume {v['source']} is not declared")
                # a new named volume starts with the image's content at its path
                c.mounts.append((v["target"], w.shared_dir("compose-volume-" + v["source"],
                                                           image_paths().get(v["target"]))))
            elif v["type"] == "bind":
                if not os.path.exists(v["source"]):
                    raise ResolveError(f"{name}: bind mount source {v['source']} does not exist")
                c.mounts.append((v["target"], v["source"]))
            else:
                raise ResolveError(f"{name}: volume type {v['type']} not handled")
        env = dict(img_env)
        env.update({k: "" if val is None else str(val) for k, val in (svc.get("environment") or {}).items()})
        c.env = w.resolve_env(c, env)
        cmd = svc.get("command") or []
        if isinstance(cmd, str):
            cmd = cmd.split()
        if not cmd:
            raise ResolveError(f"{name}: no command")
        c.argv = w.argv(c, cmd, "command")
        check_options(c, set(img_env) - set(svc.get("environment") or {}))
        hc = svc.get("healthcheck")
        if hc and not hc.get("disable"):
            test = hc["test"]
            if test[0] != "CMD":
                raise ResolveError(f"{name}: healthcheck {test[0]} not handled (use CMD)")
            argv = [test[1]] + [w.value_health(c, a) if not a.startswith("-") else a for a in test[2:]]
            c.health.append(("cmd", [w.program(c, test[1])] + argv[1:]))
        for dep, d in (svc.get("depends_on") or {}).items():
            if dep not in cfg["services"]:
                raise ResolveError(f"{name}: depends_on {dep}, which is not a service")
            c.deps.append((dep, d.get("condition") if isinstance(d, dict) else "service_started"))
        c.oneshot = svc.get("restart") == "no"
    return w


def _value_health(self, c, a):
    m = re.fullmatch(r"(\w+)://([^/:\s]+)(?::(\d+))?(/\S*)?", a)
    if m:
        addr, port = self.host_port(c, m.group(2), m.group(3), "health")
        return f"{m.group(1)}://{addr}" + (f":{port}" if port else "") + (m.group(4) or "")
    if a == "/dev/null":
        return a
    return self.value(c, a, "healthcheck")


World.value_health = _value_health


# ---------------------------------------------------------------- kubernetes

def kustomize(kdir):
    """The objects `kubectl apply -k kdir` creates: the resources, the
    generators' ConfigMaps and Secrets, the namespace set on namespaced kinds."""
    k = yaml.safe_load(open(os.path.join(kdir, "kustomization.yaml")))
    assert k.get("apiVersion") == "kustomize.config.k8s.io/v1beta1" and k.get("kind") == "Kustomization"
    known = {"apiVersion", "kind", "namespace", "labels", "resources", "generatorOptions",
             "secretGenerator", "configMapGenerator", "components"}
    unknown = set(k) - known
    if unknown:
        raise ResolveError(f"kustomization.yaml: fields this test does not apply: {sorted(unknown)}")
    docs = []
    for r in k.get("resources", []):
        path = os.path.join(kdir, r)
        if not os.path.isfile(path):
            raise ResolveError(f"kustomization.yaml: resource {r} does not exist")
        for d in yaml.safe_load_all(open(path)):
            if d is not None:
                docs.append((r, d))
    for kind, key in (("Secret", "secretGenerator"), ("ConfigMap", "configMapGenerator")):
        for g in k.get(key, []):
            data = {}
            for f in g.get("files", []):
                name, _, src = f.partition("=")
                src = src or name
                name = os.path.basename(name)
                p = os.path.join(kdir, src)
                if not os.path.isfile(p):
                    raise ResolveError(f"kustomization.yaml: {key} {g['name']}: file {src} does not exist")
                data[name] = open(p, "rb").read()
            for lit in g.get("literals", []):
                n, _, v = lit.partition("=")
                data[n] = v.encode()
            doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": g["name"]}}
            if kind == "Secret":
                import base64
                doc["type"] = g.get("type", "Opaque")
                doc["data"] = {n: base64.b64encode(v).decode() for n, v in data.items()}
            else:
                doc["data"] = {n: v.decode() for n, v in data.items()}
            docs.append((f"kustomization.yaml:{key}", doc))
    for comp in k.get("components", []):
        cdir = os.path.join(kdir, comp)
        ck = yaml.safe_load(open(os.path.join(cdir, "kustomization.yaml")))
        if ck.get("kind") != "Component" or set(ck) - {"apiVersion", "kind", "patches"}:
            raise ResolveError(f"component {comp}: only a Component with patches is handled")
        for patch in ck.get("patches", []):
            if set(patch) != {"path"}:
                raise ResolveError(f"component {comp}: only strategic-merge patches by path are handled")
            pdoc = yaml.safe_load(open(os.path.join(cdir, patch["path"])))
            targets = [d for _, d in docs if d["kind"] == pdoc["kind"] and
                       d["metadata"]["name"] == pdoc["metadata"]["name"]]
            if len(targets) != 1:
                raise ResolveError(f"component {comp}: patch {patch['path']} matches {len(targets)} objects")
            merge_patch(targets[0], pdoc)
    ns = k.get("namespace")
    labels = {}
    for lab in k.get("labels", []):
        labels.update(lab.get("pairs", {}))
    out = []
    for src, d in docs:
        d = json.loads(json.dumps(d))  # a copy in which no YAML alias shares a node
        md = d.setdefault("metadata", {})
        if ns and d["kind"] in NAMESPACED:
            md["namespace"] = ns
        if labels:
            md.setdefault("labels", {}).update(labels)
        out.append((src, d))
    return out


def merge_patch(dst, patch):
    """Strategic merge as kustomize applies it to these files: maps merge,
    lists of named entries (containers, env, ports, volumes) merge by name
    (new entries first, as kustomize 5 orders them), other lists are replaced.
    Checked against `kubectl kustomize` (kustomize v5.5.0): the same objects."""
    for key, val in patch.items():
        cur = dst.get(key)
        if isinstance(val, dict) and isinstance(cur, dict):
            merge_patch(cur, val)
        elif (isinstance(val, list) and isinstance(cur, list) and
              all(isinstance(x, dict) and "name" in x for x in val + cur)):
            by = {x["name"]: x for x in cur}
            new = []
            for x in val:
                if x["name"] in by:
                    merge_patch(by[x["name"]], x)
                else:
                    new.append(x)
            cur[:0] = new  # kustomize puts the patch's new entries first
        else:
            dst[key] = val


def _decode_secret(d):
    import base64
    data = {n: base64.b64decode(v) for n, v in (d.get("data") or {}).items()}
    data.update({n: v.encode() for n, v in (d.get("stringData") or {}).items()})
    return data


def _expand(value, env):
    """Kubernetes' $(VAR) expansion: defined names expand, $$ is a $, others stay."""
    def rep(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", rep, value)


def _k8s_user(pod_sc, spec):
    """(uid, gid, supplementary gids) of a container: its securityContext over the pod's."""
    sc = spec.get("securityContext", {})
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    if uid is None:
        return None
    gid = sc.get("runAsGroup", pod_sc.get("runAsGroup", 0))
    groups = list(pod_sc.get("supplementalGroups", []))
    if pod_sc.get("fsGroup") is not None:
        groups.append(pod_sc["fsGroup"])
    return (uid, gid, groups)


def _k8s_mounts(w, c, spec, volumes, ns, secrets, cms, fs_group):
    mounts = []
    for m in spec.get("volumeMounts", []):
        v = volumes.get(m["name"])
        if v is None:
            raise ResolveError(f"{c.name}: volumeMount {m['name']} names no volume of the pod")
        if "secret" in v or "configMap" in v:
            isec = "secret" in v
            src = v["secret"] if isec else v["configMap"]
            ref = src.get("secretName") if isec else src.get("name")
            store = secrets if isec else cms
            if (ns, ref) not in store:
                raise ResolveError(f"{c.name}: volume {m['name']}: {'Secret' if isec else 'ConfigMap'} "
                                   f"{ref} does not exist")
            d_host = w.private_dir(c, "volumes", m["name"])
            items = src.get("items") or [{"key": k, "path": k} for k in store[(ns, ref)]]
            for it in items:
                if it["key"] not in store[(ns, ref)]:
                    raise ResolveError(f"{c.name}: {ref} has no key {it['key']}")
                mode = it.get("mode", src.get("defaultMode", 0o644))
                if fs_group is not None:  # the kubelet: group fsGroup, group-readable
                    mode |= 0o440
                w.volume_file(os.path.join(d_host, it["path"]), store[(ns, ref)][it["key"]], mode, fs_group)
            mounts.append((m["mountPath"], d_host))
        elif "hostPath" in v:
            if v["hostPath"].get("type") not in ("Directory", "DirectoryOrCreate"):
                raise ResolveError(f"{c.name}: hostPath {v['hostPath']}: only directories are handled")
            mounts.append((m["mountPath"], w.shared_dir("hostPath" + v["hostPath"]["path"], (0, 0, 0o755))))
        elif "emptyDir" in v:
            mounts.append((m["mountPath"], w.private_dir(c, "emptyDir", m["name"], mode=0o777)))
        else:
            raise ResolveError(f"{c.name}: volume {m['name']}: kind not handled ({sorted(v)})")
    return mounts


def k8s_world(objs, tmp, base_addr):
    w = World(tmp, base_addr)
    by_kind = {}
    for _, d in objs:
        by_kind.setdefault(d["kind"], {})[(d["metadata"].get("namespace"), d["metadata"]["name"])] = d
    cms = {key: {n: v.encode() for n, v in (d.get("data") or {}).items()}
           for key, d in by_kind.get("ConfigMap", {}).items()}
    secrets = {key: _decode_secret(d) for key, d in by_kind.get("Secret", {}).items()}
    pods = []  # (owner kind, owner, pod template, container spec, Container)
    for kind in ("Deployment", "DaemonSet", "Job", "StatefulSet"):
        for (ns, name), d in by_kind.get(kind, {}).items():
            tpl = d["spec"]["template"]
            sel = (d["spec"].get("selector") or {}).get("matchLabels")
            if sel is not None and any(tpl["metadata"].get("labels", {}).get(k) != v for k, v in sel.items()):
                raise ResolveError(f"{kind} {name}: selector {sel} does not match its pod template's labels")
            n = d["spec"].get("replicas", 1) if kind == "Deployment" else 1
            if kind == "Deployment" and n != 1:
                raise ResolveError(f"{kind} {name}: {n} replicas (this test runs one pod per workload)")
            for spec in tpl["spec"]["containers"]:
                c = w.new_container(f"{kind.lower()}/{name}/{spec['name']}")
                c.labels = tpl["metadata"].get("labels", {})
                c.namespace = ns
                c.oneshot = kind == "Job"
                for p in spec.get("ports", []):
                    c.ports[str(p["containerPort"])] = p["containerPort"]
                    if "name" in p:
                        c.ports[p["name"]] = p["containerPort"]
                pods.append((kind, d, tpl, spec, c))
    # Services -> DNS names of the one pod they select
    for (ns, name), svc in by_kind.get("Service", {}).items():
        sel = svc["spec"].get("selector") or {}
        chosen = [c for (_, _, _, _, c) in pods
                  if c.namespace == ns and sel and all(c.labels.get(k) == v for k, v in sel.items())]
        if len(chosen) != 1:
            raise ResolveError(f"Service {name}: selector {sel} matches {len(chosen)} containers, not one")
        target = chosen[0]
        portmap = {}
        for p in svc["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            if str(tp) not in target.ports:
                raise ResolveError(f"Service {name}: targetPort {tp} is not a port of {target.name}")
            portmap[int(p["port"])] = target.ports[str(tp)]
        for dns in (name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"):
            w.hosts[dns] = (target, portmap)
    for kind, d, tpl, spec, c in pods:
        ns, pname = d["metadata"].get("namespace"), d["metadata"]["name"]
        pod_sc = tpl["spec"].get("securityContext", {})
        fs_group = pod_sc.get("fsGroup")
        volumes = {v["name"]: v for v in tpl["spec"].get("volumes", [])}
        c.user = _k8s_user(pod_sc, spec)
        c.mounts = _k8s_mounts(w, c, spec, volumes, ns, secrets, cms, fs_group)
        for ic in tpl["spec"].get("initContainers", []):
            ictr = Container(f"{c.name}/init/{ic['name']}", c.addr)
            ictr.mounts = _k8s_mounts(w, ictr, ic, volumes, ns, secrets, cms, fs_group)
            argv = list(ic.get("command") or []) + list(ic.get("args") or [])
            if argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3:
                script = " ".join(w.path(ictr, t, "init script") if t.startswith("/") else t
                                  for t in argv[2].split())
                c.init.append((ictr.name, ["/bin/sh", "-c", script], _k8s_user(pod_sc, ic)))
            else:
                c.init.append((ictr.name, w.argv(ictr, argv, "init command"), _k8s_user(pod_sc, ic)))
        env = dict(image_env())
        for ef in spec.get("envFrom", []):
            if "configMapRef" in ef:
                ref = ef["configMapRef"]["name"]
                if (ns, ref) not in cms:
                    raise ResolveError(f"{c.name}: envFrom ConfigMap {ref} does not exist")
                env.update({k: v.decode() for k, v in cms[(ns, ref)].items()})
            elif "secretRef" in ef:
                ref = ef["secretRef"]["name"]
                if (ns, ref) not in secrets:
                    raise ResolveError(f"{c.name}: envFrom Secret {ref} does not exist")
                env.update({k: v.decode() for k, v in secrets[(ns, ref)].items()})
        for e in spec.get("env", []):
            if "value" in e:
                env[e["name"]] = _expand(str(e["value"]), env)
                continue
            vf = e.get("valueFrom", {})
            if "fieldRef" in vf:
                fp = vf["fieldRef"]["fieldPath"]
                fields = {"status.podIP": c.addr, "status.hostIP": c.addr, "metadata.name": pname + "-0",
                          "metadata.namespace": ns, "spec.nodeName": "node-0"}
                if fp not in fields:
                    raise ResolveError(f"{c.name}: env {e['name']}: fieldRef {fp} not handled")
                env[e["name"]] = fields[fp]
            elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
                isec = "secretKeyRef" in vf
                r = vf["secretKeyRef" if isec else "configMapKeyRef"]
                store = secrets if isec else cms
                if (ns, r["name"]) not in store or r["key"] not in store[(ns, r["name"])]:
                    raise ResolveError(f"{c.name}: env {e['name']}: {'Secret' if isec else 'ConfigMap'} "
                                       f"{r['name']} key {r['key']} does not exist")
                env[e["name"]] = store[(ns, r["name"])][r["key"]].decode()
            else:
                raise ResolveError(f"{c.name}: env {e['name']}: no value")
        argv = list(spec.get("command") or []) + list(spec.get("args") or [])
        if not argv:
            raise ResolveError(f"{c.name}: no command (the image's CMD is not meant for this container)")
        c.argv = w.argv(c, [_expand(a, env) for a in argv], "command")
        c.env = w.resolve_env(c, {k: v for k, v in env.items()})
        check_options(c, set(image_env()) - {e["name"] for e in spec.get("env", [])})
        for probe_kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            p = spec.get(probe_kind)
            if not p:
                continue
            if "httpGet" not in p:
                raise ResolveError(f"{c.name}: {probe_kind}: only httpGet probes are handled")
            port = p["httpGet"]["port"]
            if str(port) not in c.ports:
                raise ResolveError(f"{c.name}: {probe_kind}: port {port} is not a container port")
            (c.liveness if probe_kind == "livenessProbe" else c.health).append(
                ("http", c.ports[str(port)], p["httpGet"].get("path", "/")))
        ann = tpl["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") == "true":
            port = ann.get("prometheus.io/port")
            if not port or not c.port_declared(port):
                raise ResolveError(f"{c.name}: prometheus.io/port {port} is not a container port")
            c.liveness.append(("http", int(port), ann.get("prometheus.io/path", "/metrics")))
    return w
