#!/usr/bin/env bash
# Validates the deployment files offline: the Kubernetes manifests under deploy/kubernetes/
# and the Dockerfile. Exits non-zero on any error. Used by `make manifests` and .ci/run.
#
#  1. Tools, installed when missing into a virtualenv under ~/.cache/latchkey (quietly, from
#     PyPI): kubernetes-validate, which ships the Kubernetes JSON schemas inside the package
#     (no download at validation time), and `dockerfile`, Docker's own Dockerfile parser.
#  2. Renders the kustomize base and the production overlay with `kubectl kustomize` when a
#     kubectl with kustomize v4 or later is on PATH (or a `kustomize` binary). Without one, a
#     small built-in renderer handles exactly what the overlays use (namespace, images, map-only
#     strategic-merge patches, configMapGenerator from env files, components) and refuses
#     anything else; with one, the built-in renderer's output is compared with the real one
#     (generated names compared without their content hash), so the fallback cannot drift.
#  3. Validates every object, and secret.example.yaml, against the Kubernetes schemas of
#     K8S_VERSION (default 1.30.0) in strict mode (unknown fields are errors; so is a kind
#     without a schema).
#  4. Checks the custom resources the offline schemas do not cover (HTTPRoute, PodMonitor,
#     PrometheusRule) for their required fields and references: parent Gateway, hostnames and
#     backends; selector and port; alert names, expressions and that every latchkey_* metric
#     they use is one src/metrics.rs registers.
#  5. Checks what schemas cannot: selectors match pod labels, Service/Ingress/probe ports
#     exist, the NetworkPolicy's sources and destinations, the generated ConfigMap, the restricted security context, probes and graceful-shutdown timing, the HPA owns
#     the replica count, the migration Job, placeholder-only example Secret, overlay patches
#     target existing objects, and the Dockerfile's user, port and entrypoint agree with them.
#
# Usage: scripts/validate-manifests.sh [-q]   (-q prints only failures and the summary)
# Environment: K8S_VERSION (1.30.0), LK_TOOLS_VENV (the virtualenv's directory),
# RENDERER=builtin to skip kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."

QUIET=0
case "${1:-}" in
  -q | --quiet) QUIET=1 ;;
  "") ;;
  *) echo "usage: $0 [-q]" >&2; exit 2 ;;
esac

K8S_VERSION="${K8S_VERSION:-1.30.0}"
KUBERNETES_VALIDATE_VERSION=1.37.0 # ships schemas for Kubernetes 1.25 to 1.37
DOCKERFILE_PARSER_VERSION=3.4.0
VENV="${LK_TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/latchkey/manifests-venv}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

log() { printf '%s\n' "$*" >&2; }

tools_ok() {
  [ -x "$VENV/bin/python" ] &&
    "$VENV/bin/python" - "$KUBERNETES_VALIDATE_VERSION" "$DOCKERFILE_PARSER_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
import dockerfile, kubernetes_validate.utils  # noqa: F401
sys.exit(0 if (version("kubernetes-validate"), version("dockerfile")) == tuple(sys.argv[1:3]) else 1)
PY
}

if ! tools_ok; then
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and dockerfile $DOCKERFILE_PARSER_VERSION into $VENV"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's own python3 ships venv separately.
    rm -rf "$VENV"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "dockerfile==$DOCKERFILE_PARSER_VERSION"
  tools_ok || { log "error: the validation tools did not install"; exit 1; }
fi

# A renderer: kubectl's built-in kustomize (v4+), else a kustomize binary, else the built-in one.
render_cmd=""
if [ "${RENDERER:-}" != builtin ]; then
  if command -v kubectl >/dev/null &&
    kubectl version --client 2>/dev/null | grep -Eq '^Kustomize Version: v([4-9]|[1-9][0-9])\.'; then
    render_cmd="kubectl kustomize"
  elif command -v kustomize >/dev/null; then
    render_cmd="kustomize build"
  fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
kdir=deploy/kubernetes
renderer_name=builtin
if [ -n "$render_cmd" ]; then
  case "$render_cmd" in
    kubectl*) version_text="$(kubectl version --client 2>/dev/null | grep '^Kustomize Version')" ;;
    *) version_text="$(kustomize version 2>/dev/null || true)" ;;
  esac
  renderer_name="$render_cmd ($(grep -Eo 'v[0-9]+\.[0-9]+\.[0-9]+' <<<"$version_text" | head -n1))"
  for target in base overlays/production overlays/production-monitoring; do
    out="$work/$(echo "$target" | tr / _).yaml"
    if ! $render_cmd "$kdir/$target" >"$out" 2>"$work/render.err"; then
      log "error: $render_cmd $kdir/$target failed:"
      cat "$work/render.err" >&2
      exit 1
    fi
  done
fi

status=0
"$VENV/bin/python" - "$K8S_VERSION" "$work" "$renderer_name" "$QUIET" <<'PY' || status=$?
"""The checks behind scripts/validate-manifests.sh; see its header."""
import copy
import fnmatch
import hashlib
import json
import os
import re
import sys

import dockerfile
import yaml
from kubernetes_validate import utils as kv

K8S_VERSION, WORK, RENDERER = sys.argv[1:4]
QUIET = sys.argv[4] == "1"
KDIR = "deploy/kubernetes"
TARGETS = ["base", "overlays/production", "overlays/production-monitoring"]
# Custom resources: no schema in kubernetes-validate; checked by crd_checks() instead.
CRD_KINDS = {"HTTPRoute", "PodMonitor", "PrometheusRule"}
SECRET_EXAMPLE = f"{KDIR}/base/secret.example.yaml"
PLACEHOLDER = "REPLACE_ME"
passed = 0
failed = 0


def ok(msg):
    global passed
    passed += 1
    if not QUIET:
        print(f"ok      {msg}")


def fail(msg):
    global failed
    failed += 1
    print(f"FAILED  {msg}")


def check(cond, msg, detail=""):
    if cond:
        ok(msg)
    else:
        fail(msg + (f": {detail}" if detail else ""))
    return cond


def load_yaml(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def ref(obj):
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


# ---------------------------------------------------------------------------------------------
# The built-in renderer: what kustomize does for the fields this project uses, nothing more.

SUPPORTED_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "patches",
                    "configMapGenerator", "components"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
                  "StorageClass", "CustomResourceDefinition", "IngressClass"}


class RenderError(Exception):
    pass


def merge_map_patch(base, patch, where):
    for key, value in patch.items():
        if isinstance(value, list):
            raise RenderError(f"{where}: a list in a patch ({key}); the built-in renderer merges maps "
                              "only - keep patches map-only or install kubectl")
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_map_patch(base[key], value, f"{where}.{key}")
        elif value is None:
            base.pop(key, None)
        else:
            base[key] = copy.deepcopy(value)


def image_name(image):
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def pod_specs(obj):
    spec = obj.get("spec", {})
    if obj.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    if obj.get("kind") == "Pod":
        return [spec]
    tmpl = spec.get("template", {}).get("spec")
    return [tmpl] if tmpl else []


def containers(obj):
    for ps in pod_specs(obj):
        for c in ps.get("initContainers", []) + ps.get("containers", []):
            yield c


def read_env_file(path):
    data = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key):
                raise RenderError(f"{path}:{n}: not KEY=value")
            data[key] = value
    return data


GENERATED = "latchkey.io/generated-name"


def generate_config_maps(directory, kust, objects, path):
    for gen in kust.get("configMapGenerator", []):
        if set(gen) - {"name", "envs", "literals", "behavior", "options"} or \
                set(gen.get("options", {})) - {"labels"}:
            raise RenderError(f"{path}: configMapGenerator supports name, envs, literals, behavior, options.labels")
        data = {}
        for env in gen.get("envs", []):
            data.update(read_env_file(os.path.join(directory, env)))
        for lit in gen.get("literals", []):
            key, _, value = lit.partition("=")
            data[key] = value
        behavior = gen.get("behavior", "create")
        existing = [o for o in objects if o["kind"] == "ConfigMap"
                    and o["metadata"].get("annotations", {}).get(GENERATED) == gen["name"]]
        if behavior == "merge":
            if not existing:
                raise RenderError(f"{path}: configMapGenerator {gen['name']} merges into nothing")
            existing[0]["data"].update(data)
            existing[0]["metadata"].setdefault("labels", {}).update(gen.get("options", {}).get("labels", {}))
        elif behavior == "create":
            if existing:
                raise RenderError(f"{path}: configMapGenerator {gen['name']} exists already")
            meta = {"name": gen["name"], "annotations": {GENERATED: gen["name"]}}
            if gen.get("options", {}).get("labels"):
                meta["labels"] = dict(gen["options"]["labels"])
            objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
        else:
            raise RenderError(f"{path}: configMapGenerator behavior {behavior} is not supported")


def finish_generated(objects):
    """Names each generated ConfigMap <name>-<hash of its content> and points the references of
    pods (envFrom, volumes) at it, as kustomize does; the hash is not kustomize's own, which is
    why the comparison with kustomize ignores it."""
    renamed = {}
    for o in objects:
        original = o["metadata"].get("annotations", {}).pop(GENERATED, None)
        if original is None:
            continue
        if not o["metadata"]["annotations"]:
            del o["metadata"]["annotations"]
        digest = hashlib.sha256(json.dumps(o["data"], sort_keys=True).encode()).hexdigest()[:10]
        o["metadata"]["name"] = renamed[original] = f"{original}-{digest}"
    for o in objects:
        for ps in pod_specs(o):
            for c in ps.get("initContainers", []) + ps.get("containers", []):
                for src in c.get("envFrom", []):
                    ref_ = src.get("configMapRef")
                    if ref_ and ref_.get("name") in renamed:
                        ref_["name"] = renamed[ref_["name"]]
            for v in ps.get("volumes", []):
                if "configMap" in v and v["configMap"].get("name") in renamed:
                    v["configMap"]["name"] = renamed[v["configMap"]["name"]]
    return objects


def builtin_render(directory, top=True, component=False):
    path = os.path.join(directory, "kustomization.yaml")
    if not os.path.exists(path):
        raise RenderError(f"{directory}: no kustomization.yaml")
    (kust,) = load_yaml(path)
    unknown = set(kust) - SUPPORTED_FIELDS
    if unknown:
        raise RenderError(f"{path}: fields {sorted(unknown)} are beyond the built-in renderer "
                          "(install kubectl, or keep the kustomization simple)")
    if (kust.get("kind") == "Component") != component:
        raise RenderError(f"{path}: kind {kust.get('kind')} where a "
                          f"{'Component' if component else 'Kustomization'} is expected")
    objects = []
    for res in kust.get("resources", []):
        full = os.path.normpath(os.path.join(directory, res))
        if os.path.isdir(full):
            objects += builtin_render(full, top=False)
        elif os.path.isfile(full):
            objects += load_yaml(full)
        else:
            raise RenderError(f"{path}: resource {res} does not exist")
    generate_config_maps(directory, kust, objects, path)
    for comp in kust.get("components", []):
        objects += builtin_render(os.path.normpath(os.path.join(directory, comp)), top=False, component=True)
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for patch in kust.get("patches", []):
        if set(patch) - {"path"}:
            raise RenderError(f"{path}: only `patches: - path: <file>` (strategic merge) is supported")
        for doc in load_yaml(os.path.join(directory, patch["path"])):
            key = (doc.get("kind"), doc.get("metadata", {}).get("name"))
            if key not in names:
                raise RenderError(f"{path}: patch {patch['path']} targets {key[0]}/{key[1]}, "
                                  "which no resource defines")
            for o in objects:
                if (o["kind"], o["metadata"]["name"]) == key:
                    if o.get("apiVersion") != doc.get("apiVersion"):
                        raise RenderError(f"{patch['path']}: apiVersion {doc.get('apiVersion')} "
                                          f"but {key[0]}/{key[1]} is {o.get('apiVersion')}")
                    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
                    body["metadata"] = {k: v for k, v in body.get("metadata", {}).items() if k != "name"}
                    merge_map_patch(o, body, f"{patch['path']}")
    for img in kust.get("images", []):
        if set(img) - {"name", "newName", "newTag"}:
            raise RenderError(f"{path}: images supports name, newName, newTag only")
        used = False
        for o in objects:
            for c in containers(o):
                if image_name(c["image"]) == img["name"]:
                    used = True
                    new = img.get("newName", img["name"])
                    tag = img.get("newTag")
                    if tag is None and ":" in c["image"].rsplit("/", 1)[-1]:
                        tag = c["image"].rsplit(":", 1)[1]
                    c["image"] = f"{new}:{tag}" if tag else new
        if not used:
            raise RenderError(f"{path}: images entry {img['name']} matches no container image")
    if "namespace" in kust:
        for o in objects:
            if o["kind"] not in CLUSTER_SCOPED:
                o["metadata"]["namespace"] = kust["namespace"]
    return finish_generated(objects) if top else objects


def without_hashes(objects):
    """The objects with each generated ConfigMap's hash suffix, and every reference to it,
    replaced by `-HASH`: the built-in renderer's hash is not kustomize's."""
    text = yaml.safe_dump_all(objects, sort_keys=True)
    for o in objects:
        if o["kind"] == "ConfigMap":
            m = re.fullmatch(r"(.+)-([a-z0-9]{10})", o["metadata"]["name"])
            if m:
                text = re.sub(rf"\b{re.escape(m.group(0))}\b", m.group(1) + "-HASH", text)
    return list(yaml.safe_load_all(text))


def keyed(objects):
    return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
            for o in without_hashes(objects)}


# ---------------------------------------------------------------------------------------------
# Rendering

rendered = {}
for target in TARGETS:
    directory = f"{KDIR}/{target}"
    try:
        mine = builtin_render(directory)
    except (RenderError, KeyError, ValueError, yaml.YAMLError) as e:
        fail(f"{target}: built-in render: {e}")
        mine = None
    real_path = os.path.join(WORK, target.replace("/", "_") + ".yaml")
    if os.path.exists(real_path):
        real = load_yaml(real_path)
        ok(f"{target}: rendered by {RENDERER}, {len(real)} objects")
        if mine is not None:
            a, b = keyed(mine), keyed(real)
            diff = sorted(f"{k[0]}/{k[2]}" for k in set(a) | set(b) if a.get(k) != b.get(k))
            check(not diff, f"{target}: the built-in renderer agrees with {RENDERER.split(' (')[0]}",
                  "differs on " + ", ".join(diff))
        rendered[target] = real
    elif mine is not None:
        ok(f"{target}: rendered by the built-in renderer (no kubectl kustomize), {len(mine)} objects")
        rendered[target] = mine

# The secret example is checked on its own, never rendered.
try:
    secret_docs = load_yaml(SECRET_EXAMPLE)
except (OSError, yaml.YAMLError) as e:
    fail(f"{SECRET_EXAMPLE}: {e}")
    secret_docs = []

# ---------------------------------------------------------------------------------------------
# Schemas

def schema_check(label, objects):
    errors = []
    objects = [o for o in objects if o.get("kind") not in CRD_KINDS]
    for o in objects:
        try:
            kv.validate(o, K8S_VERSION, strict=True)
        except kv.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            errors.append(f"{ref(o)}: {path}: {e.message}")
        except kv.SchemaNotFoundError as e:
            errors.append(f"{ref(o)}: {e.message}")
        except kv.VersionNotSupportedError as e:
            errors.append(e.message)
        except Exception as e:  # a malformed object: no kind, no apiVersion, ...
            errors.append(f"{ref(o) if isinstance(o, dict) else o!r}: {e!r}")
    check(not errors and objects,
          f"{label}: {len(objects)} object{'s' if len(objects) != 1 else ''} valid against the Kubernetes {K8S_VERSION} schemas (strict)",
          "\n          " + "\n          ".join(errors) if errors else "no objects")


for target, objects in rendered.items():
    schema_check(target, objects)
schema_check(os.path.relpath(SECRET_EXAMPLE, KDIR), secret_docs)

# ---------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore

docker_uid = None
docker_port = None
try:
    cmds = dockerfile.parse_file("Dockerfile")
    ok("Dockerfile: parses with Docker's parser")
    last_from = max(i for i, c in enumerate(cmds) if c.cmd.upper() == "FROM")
    final = cmds[last_from:]
    stages = [c for c in cmds if c.cmd.upper() == "FROM"]
    check(len(stages) >= 2, "Dockerfile: multi-stage build", f"{len(stages)} stage(s)")

    def last(name):
        found = [c for c in final if c.cmd.upper() == name]
        return found[-1] if found else None

    user = last("USER")
    m = re.fullmatch(r"(\d+)(?::(\d+))?", user.value[0]) if user else None
    if check(m and int(m.group(1)) != 0, "Dockerfile: the runtime stage runs as a numeric non-root USER",
             user.value[0] if user else "no USER"):
        docker_uid = int(m.group(1))
    entry = last("ENTRYPOINT")
    check(entry and entry.json and list(entry.value) == ["latchkey"],
          'Dockerfile: ENTRYPOINT ["latchkey"] (exec form)', entry.original if entry else "none")
    cmd = last("CMD")
    check(cmd and cmd.json and list(cmd.value) == ["serve", "--no-migrate"],
          'Dockerfile: CMD ["serve", "--no-migrate"]', cmd.original if cmd else "none")
    expose = last("EXPOSE")
    if check(expose and len(expose.value) == 1 and expose.value[0].split("/")[0].isdigit(),
             "Dockerfile: EXPOSE one port", expose.original if expose else "none"):
        docker_port = int(expose.value[0].split("/")[0])
    copies = [c for c in final if c.cmd.upper() == "COPY"]
    from_context = [c.value[0] for c in copies if not any(f.startswith("--from") for f in c.flags)]
    check(from_context == ["config/"], "Dockerfile: the runtime stage takes only config/ from the context",
          repr(from_context))
    check(any("/usr/local/bin/latchkey" in c.value[-1] for c in copies),
          "Dockerfile: the binary is installed as /usr/local/bin/latchkey (on PATH for kubectl exec)")
except (OSError, dockerfile.GoParseError, ValueError) as e:
    fail(f"Dockerfile: {e}")


def dockerignored(path, patterns):
    ignored = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat[1:] if neg else pat
        pat = pat.strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatchcase(p, pat) or fnmatch.fnmatchcase(p, pat.replace("**/", "")) for p in prefixes):
            ignored = not neg
    return ignored


try:
    with open(".dockerignore") as f:
        patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    needed = ["Cargo.toml", "Cargo.lock", "src/main.rs", "entity/Cargo.toml", "migration/Cargo.toml",
              "config/default.toml", "config/production.toml", "benches/http/main.rs", "tests/api/main.rs",
              "examples/fakes.rs", "testkit/Cargo.toml", "testkit/src/lib.rs"]
    kept_out = [p for p in needed if dockerignored(p, patterns)]
    check(not kept_out, ".dockerignore keeps what the build needs", "excludes " + ", ".join(kept_out))
    leaked = [p for p in ["target/release/latchkey", ".git/HEAD", "data/latchkey.db", "latchkey.env",
                          ".env", "e2e/node_modules/x.js"] if not dockerignored(p, patterns)]
    check(not leaked, ".dockerignore keeps build output, local data, .git and env files out",
          "lets in " + ", ".join(leaked))
except OSError as e:
    fail(f".dockerignore: {e}")

# ---------------------------------------------------------------------------------------------
# What the schemas cannot see


def subset(sel, labels):
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


def duration_seconds(text):
    total, pos = 0, 0
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
    for m in re.finditer(r"\s*(\d+)\s*([a-z]+)", text):
        if m.start() != pos or m.group(2) not in units:
            raise ValueError(text)
        total += int(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ValueError(text)
    return total


secret_names = {d["metadata"]["name"] for d in secret_docs if d.get("kind") == "Secret"}
for d in secret_docs:
    if d.get("kind") == "Secret":
        values = {**d.get("stringData", {}), **d.get("data", {})}
        real = [k for k, v in values.items() if PLACEHOLDER not in str(v)]
        check(values and not real, f"secret example: every value is a {PLACEHOLDER} placeholder",
              "real-looking values for " + ", ".join(real))
        bad = [k for k in values if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)]
        check(not bad, "secret example: keys are environment variable names (envFrom)", ", ".join(bad))
for target in TARGETS:
    (kust,) = load_yaml(f"{KDIR}/{target}/kustomization.yaml")
    listed = [str(r) for field in ("resources", "patches", "components") for r in kust.get(field, [])]
    check(not any("secret.example" in r for r in listed),
          f"{target}: the example Secret is not a kustomize resource (apply can never overwrite the real one)")
    check(not kust.get("secretGenerator"), f"{target}: no secretGenerator (secrets stay out of the repository)")


def policy(target, objects):
    p = f"{target}:"
    by_kind = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    check(len(keys) == len(set(keys)), f"{p} no duplicate objects")
    required = ["ServiceAccount", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
                "HorizontalPodAutoscaler", "Job", "NetworkPolicy"]
    missing = [k for k in required if k not in by_kind]
    check(not missing, f"{p} has {', '.join(required)}", "missing " + ", ".join(missing))
    deps = by_kind.get("Deployment", [])
    jobs = by_kind.get("Job", [])
    if not check(len(deps) == 1 and len(jobs) == 1, f"{p} one Deployment and one migration Job",
                 f"{len(deps)} Deployment(s), {len(jobs)} Job(s)"):
        return
    dep, job = deps[0], jobs[0]
    tmpl_labels = dep["spec"]["template"]["metadata"].get("labels", {})
    job_labels = job["spec"]["template"]["metadata"].get("labels", {})
    check(subset(dep["spec"]["selector"].get("matchLabels"), tmpl_labels),
          f"{p} the Deployment's selector matches its pod labels")

    # The release procedure applies `-l app.kubernetes.io/component!=server` first (everything
    # but the Deployment, so the Job runs before the rollout), then everything.
    comp = "app.kubernetes.io/component"
    servers = [ref(o) for o in objects if o["metadata"].get("labels", {}).get(comp) == "server"]
    check(servers == [ref(dep)], f"{p} only the Deployment carries {comp}=server (release procedure)",
          ", ".join(servers))
    check(job["metadata"].get("labels", {}).get(comp) == "migrate", f"{p} the Job carries {comp}=migrate")

    # Ports
    ports = {cp.get("name"): cp["containerPort"] for c in dep["spec"]["template"]["spec"]["containers"]
             for cp in c.get("ports", [])}
    if docker_port is not None:
        check(docker_port in ports.values(), f"{p} the container port is the image's EXPOSE {docker_port}",
              repr(ports))

    def port_ok(port):
        return port in ports if isinstance(port, str) else port in ports.values()

    for svc in by_kind.get("Service", []):
        check(subset(svc["spec"].get("selector"), tmpl_labels) and not subset(svc["spec"].get("selector"), job_labels),
              f"{p} Service/{svc['metadata']['name']} selects the server's pods and not the Job's")
        for sp in svc["spec"].get("ports", []):
            check(port_ok(sp.get("targetPort", sp["port"])),
                  f"{p} Service/{svc['metadata']['name']} targetPort {sp.get('targetPort')} is a container port")
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    for pdb in by_kind.get("PodDisruptionBudget", []):
        check(subset(pdb["spec"].get("selector", {}).get("matchLabels"), tmpl_labels),
              f"{p} the PodDisruptionBudget selects the server's pods")
    hpas = [h for h in by_kind.get("HorizontalPodAutoscaler", [])
            if h["spec"]["scaleTargetRef"].get("kind") == "Deployment"
            and h["spec"]["scaleTargetRef"].get("name") == dep["metadata"]["name"]]
    if check(len(hpas) == 1, f"{p} a HorizontalPodAutoscaler targets the Deployment"):
        hpa = hpas[0]
        check("replicas" not in dep["spec"], f"{p} the Deployment leaves spec.replicas to the HPA",
              f"replicas: {dep['spec'].get('replicas')}")
        mn = hpa["spec"].get("minReplicas", 1)
        check(mn >= 3 and hpa["spec"]["maxReplicas"] >= mn, f"{p} the HPA keeps at least 3 replicas",
              f"minReplicas {mn}, maxReplicas {hpa['spec']['maxReplicas']}")
        metrics = [m.get("resource", {}).get("name") for m in hpa["spec"].get("metrics", [])]
        check("cpu" in metrics, f"{p} the HPA scales on CPU")
        for pdb in by_kind.get("PodDisruptionBudget", []):
            ma = pdb["spec"].get("minAvailable")
            check(not isinstance(ma, int) or ma < mn,
                  f"{p} the PodDisruptionBudget lets a drain proceed at minReplicas", f"minAvailable {ma} >= {mn}")
    rollout = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
    check(rollout.get("maxUnavailable") == 0, f"{p} rolling updates keep every old pod until a new one is ready")

    # Pods: security, resources, configuration
    cms = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
    for owner in (dep, job):
        ps = owner["spec"]["template"]["spec"]
        psc = ps.get("securityContext", {})
        name = ref(owner)
        check(ps.get("automountServiceAccountToken") is False, f"{p} {name}: no service account token")
        if docker_uid is not None:
            check(psc.get("runAsUser") == docker_uid, f"{p} {name}: runAsUser is the image's USER {docker_uid}",
                  f"runAsUser {psc.get('runAsUser')}")
        for c in ps["containers"] + ps.get("initContainers", []):
            csc = c.get("securityContext", {})
            cn = f"{name} container {c['name']}"
            problems = []
            if not (csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
                problems.append("runAsNonRoot")
            if csc.get("allowPrivilegeEscalation") is not False:
                problems.append("allowPrivilegeEscalation: false")
            if csc.get("readOnlyRootFilesystem") is not True:
                problems.append("readOnlyRootFilesystem: true")
            caps = csc.get("capabilities", {})
            if "ALL" not in caps.get("drop", []) or caps.get("add"):
                problems.append("capabilities: drop ALL, add none")
            if csc.get("seccompProfile", psc.get("seccompProfile", {})).get("type") != "RuntimeDefault":
                problems.append("seccompProfile RuntimeDefault")
            if csc.get("privileged"):
                problems.append("not privileged")
            check(not problems, f"{p} {cn}: restricted security context", "needs " + ", ".join(problems))
            res = c.get("resources", {})
            missing = [f"{k}.{r}" for k in ("requests", "limits") for r in ("cpu", "memory")
                       if r not in res.get(k, {})]
            check(not missing, f"{p} {cn}: CPU and memory requests and limits", "missing " + ", ".join(missing))
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            check(env.get("LATCHKEY_ENV") == "production", f"{p} {cn}: LATCHKEY_ENV=production")
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    check(src["configMapRef"]["name"] in cms,
                          f"{p} {cn}: ConfigMap {src['configMapRef']['name']} is defined")
                if "secretRef" in src:
                    check(src["secretRef"]["name"] in secret_names,
                          f"{p} {cn}: Secret {src['secretRef']['name']} is the one secret.example.yaml documents")
            image = c["image"]
            if target != "base":
                check(image_name(image) != image and not image.endswith(":latest") and "/" in image,
                      f"{p} {cn}: image {image} names a registry and a fixed tag")

    # The server
    c = dep["spec"]["template"]["spec"]["containers"][0]
    check(c.get("args", [])[:1] == ["serve"] and "--no-migrate" in c.get("args", []),
          f"{p} the server runs `serve --no-migrate` (migrations are the Job's)", repr(c.get("args")))

    def probe(kind, path):
        pr = c.get(kind, {}).get("httpGet", {})
        check(pr.get("path") == path and port_ok(pr.get("port")), f"{p} {kind}: GET {path} on a container port",
              repr(pr))

    probe("livenessProbe", "/healthz")
    # Redis only: a database outage must not take every pod out of the Service at once.
    probe("readinessProbe", "/readyz?exclude=database")
    check("startupProbe" in c, f"{p} a startupProbe holds liveness off during start-up")
    pre = c.get("lifecycle", {}).get("preStop", {})
    sleep = None
    if "sleep" in pre:
        sleep = pre["sleep"].get("seconds")
    elif "exec" in pre:
        cmd = pre["exec"].get("command", [])
        if len(cmd) == 2 and cmd[0].endswith("sleep") and cmd[1].isdigit():
            sleep = int(cmd[1])
    if check(sleep and sleep >= 3, f"{p} a preStop sleep lets endpoints drop the pod before SIGTERM",
             repr(pre)):
        grace_text = "25s"
        for src in c.get("envFrom", []):
            cm = cms.get(src.get("configMapRef", {}).get("name"), {})
            grace_text = cm.get("data", {}).get("LATCHKEY__SERVER__SHUTDOWN_GRACE", grace_text)
        grace_text = {e["name"]: e.get("value") for e in c.get("env", [])}.get(
            "LATCHKEY__SERVER__SHUTDOWN_GRACE", grace_text)
        vision_text = "30s"
        for src in c.get("envFrom", []):
            cm = cms.get(src.get("configMapRef", {}).get("name"), {})
            vision_text = cm.get("data", {}).get("LATCHKEY__VISION__TIMEOUT", vision_text)
        try:
            grace = duration_seconds(grace_text)
            tgp = dep["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
            check(tgp >= sleep + grace + 5,
                  f"{p} terminationGracePeriodSeconds {tgp} >= preStop {sleep}s + shutdown grace {grace_text} + 5s")
            check(grace >= duration_seconds(vision_text),
                  f"{p} shutdown grace {grace_text} outlasts vision.timeout {vision_text} (in-flight vision calls finish)")
        except ValueError as e:
            fail(f"{p} {e} is not a duration (LATCHKEY__SERVER__SHUTDOWN_GRACE, LATCHKEY__VISION__TIMEOUT)")
    spread = dep["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
    anti = dep["spec"]["template"]["spec"].get("affinity", {}).get("podAntiAffinity")
    check(anti or any(t["topologyKey"] == "kubernetes.io/hostname" and subset(t.get("labelSelector", {})
                      .get("matchLabels"), tmpl_labels) for t in spread),
          f"{p} replicas are spread across nodes")

    # The migration Job
    jc = job["spec"]["template"]["spec"]["containers"]
    check(len(jc) == 1 and jc[0].get("args") == ["migrate", "up"], f"{p} the Job runs `latchkey migrate up`")
    check(job["spec"].get("backoffLimit") is not None and job["spec"].get("ttlSecondsAfterFinished") is not None,
          f"{p} the Job has a backoffLimit and a ttlSecondsAfterFinished")
    check(jc[0]["image"] == c["image"], f"{p} the Job runs the server's image")

    # Settings
    for cm in cms.values():
        data = cm.get("data", {})
        url = data.get("LATCHKEY__SERVER__PUBLIC_URL")
        if url is not None:
            check(url.startswith("https://") and not url.endswith("/"),
                  f"{p} server.public_url is https:// without a trailing slash", url)
        origins = data.get("LATCHKEY__CORS__ALLOWED_ORIGINS")
        if origins is not None:
            bad = [o for o in origins.split(",") if not re.fullmatch(r"[a-z][a-z0-9+.-]*://[^/*\s]+", o.strip())]
            check(not bad, f"{p} cors.allowed_origins are exact origins", ", ".join(bad))
        leaked = [k for k in data if re.search(r"SECRET|API_KEY|PASSWORD|DATABASE__URL|REDIS__URL", k)]
        check(not leaked, f"{p} ConfigMap/{cm['metadata']['name']} holds no secrets", ", ".join(leaked))

    for ing in by_kind.get("Ingress", []):
        name = f"Ingress/{ing['metadata']['name']}"
        trusted = [cm.get("data", {}).get("LATCHKEY__LIMITS__TRUSTED_PROXIES", "") for cm in cms.values()]
        check(any(t.strip() for t in trusted),
              f"{p} {name}: behind an Ingress, LATCHKEY__LIMITS__TRUSTED_PROXIES is set (client IPs, rate limits)")
        hosts = {r.get("host") for r in ing["spec"].get("rules", [])}
        tls_hosts = {h for t in ing["spec"].get("tls", []) for h in t.get("hosts", [])}
        check(hosts and hosts <= tls_hosts, f"{p} {name}: TLS for every host", f"{hosts - tls_hosts}")
        backends = [pth["backend"]["service"] for r in ing["spec"].get("rules", [])
                    for pth in r.get("http", {}).get("paths", [])]
        bad = [b for b in backends if b["name"] not in services or not any(
            b["port"].get("name") == sp.get("name") or b["port"].get("number") == sp["port"]
            for sp in services[b["name"]]["spec"]["ports"])]
        check(backends and not bad, f"{p} {name}: backends are existing Service ports", repr(bad))
        paths = {pth["path"] for r in ing["spec"].get("rules", []) for pth in r.get("http", {}).get("paths", [])}
        check(not ({"/", "/metrics", "/readyz"} & paths), f"{p} {name}: /metrics and /readyz stay internal")
        for cm in cms.values():
            url = cm.get("data", {}).get("LATCHKEY__SERVER__PUBLIC_URL", "")
            m = re.match(r"https://([^/:]+)", url)
            if m:
                check(m.group(1) in hosts, f"{p} {name}: serves the public URL's host {m.group(1)}",
                      f"hosts {sorted(hosts)}")


def metric_names():
    """Every series latchkey exports: the names src/metrics.rs registers, under the registry's
    prefix latchkey_, with a histogram's _bucket, _sum and _count."""
    with open("src/metrics.rs") as f:
        text = f.read()
    names = set()
    for m in re.finditer(r'(IntCounter|IntCounterVec|HistogramVec|HistogramOpts|Opts)::new\(\s*"([a-z_]+)"', text):
        name = "latchkey_" + m.group(2)
        names.add(name)
        if m.group(1).startswith("Histogram"):
            names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


def network_policy(p, objects, tmpl_labels, ports):
    pols = [o for o in objects if o["kind"] == "NetworkPolicy"]
    mine = [n for n in pols if subset(n["spec"].get("podSelector", {}).get("matchLabels"), tmpl_labels)]
    if not check(mine, f"{p} a NetworkPolicy selects the server's pods"):
        return
    np_ = mine[0]
    spec = np_["spec"]
    check(set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}, f"{p} the NetworkPolicy governs ingress and egress")
    sources = [f for rule in spec.get("ingress", []) for f in rule.get("from", [])]
    check(sources and all("namespaceSelector" in f and f["namespaceSelector"].get("matchLabels") for f in sources),
          f"{p} the NetworkPolicy admits only labelled namespaces (ingress controller or gateway, monitoring)",
          repr(sources))
    in_ports = [pt.get("port") for rule in spec.get("ingress", []) for pt in rule.get("ports", [])]
    check(in_ports and all(pt in ports or pt in ports.values() for pt in in_ports),
          f"{p} the NetworkPolicy admits the container's port only", repr(in_ports))
    out = {(pt.get("protocol", "TCP"), pt.get("port")) for rule in spec.get("egress", [])
           for pt in rule.get("ports", [])}
    needed = {("UDP", 53), ("TCP", 53), ("TCP", 6379), ("TCP", 5432), ("TCP", 443)}
    check(needed <= out, f"{p} the NetworkPolicy lets out DNS, Redis, PostgreSQL and HTTPS",
          "missing " + repr(sorted(needed - out)))
    check(all(rule.get("ports") for rule in spec.get("egress", [])),
          f"{p} every egress rule of the NetworkPolicy names its ports")
    for rule in spec.get("egress", []):
        if any(pt.get("port") == 443 for pt in rule.get("ports", [])):
            blocks = [t.get("ipBlock", {}) for t in rule.get("to", [])]
            private = all("10.0.0.0/8" in b.get("except", []) for b in blocks if b.get("cidr") == "0.0.0.0/0")
            check(blocks and private, f"{p} HTTPS goes to public addresses, not to the cluster's network")


def crd_checks(p, objects, tmpl_labels, ports, services, cms):
    """The custom resources' required fields and references, which no offline schema checks."""
    public_hosts = set()
    for cm in cms.values():
        m = re.match(r"https://([^/:]+)", cm.get("data", {}).get("LATCHKEY__SERVER__PUBLIC_URL", ""))
        if m:
            public_hosts.add(m.group(1))
    known = metric_names()
    for o in objects:
        name = ref(o)
        spec = o.get("spec", {})
        api = o.get("apiVersion", "")
        if o["kind"] == "HTTPRoute":
            check(api in ("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"),
                  f"{p} {name}: a Gateway API version", api)
            parents = spec.get("parentRefs", [])
            check(parents and all(pr.get("name") and pr.get("kind", "Gateway") == "Gateway" for pr in parents),
                  f"{p} {name}: parentRefs name a Gateway", repr(parents))
            hosts = set(spec.get("hostnames", []))
            check(hosts and public_hosts <= hosts, f"{p} {name}: serves the public URL's host",
                  f"hostnames {sorted(hosts)}, public {sorted(public_hosts)}")
            rules = spec.get("rules", [])
            backends = [b for r in rules for b in r.get("backendRefs", [])]
            bad = [b for b in backends if b.get("kind", "Service") != "Service" or b.get("name") not in services
                   or not any(b.get("port") == sp["port"] for sp in services[b["name"]]["spec"]["ports"])]
            check(rules and backends and not bad, f"{p} {name}: every rule has backendRefs to an existing Service port",
                  repr(bad or backends))
            matches = [m_.get("path", {}) for r in rules for m_ in r.get("matches", [])]
            check(all(m_.get("type") in ("Exact", "PathPrefix") and str(m_.get("value", "")).startswith("/")
                      for m_ in matches) and matches,
                  f"{p} {name}: path matches are Exact or PathPrefix with an absolute path", repr(matches))
            values = {m_.get("value") for m_ in matches}
            check(not ({"/", "/metrics", "/readyz"} & values), f"{p} {name}: /metrics and /readyz stay internal")
        elif o["kind"] == "PodMonitor":
            check(api == "monitoring.coreos.com/v1", f"{p} {name}: monitoring.coreos.com/v1", api)
            check(subset(spec.get("selector", {}).get("matchLabels"), tmpl_labels),
                  f"{p} {name}: selects the server's pods")
            eps = spec.get("podMetricsEndpoints", [])
            check(eps and all(e.get("port") in ports and e.get("path", "/metrics") == "/metrics" for e in eps),
                  f"{p} {name}: scrapes /metrics on a named container port", repr(eps))
        elif o["kind"] == "PrometheusRule":
            check(api == "monitoring.coreos.com/v1", f"{p} {name}: monitoring.coreos.com/v1", api)
            groups = spec.get("groups", [])
            check(groups and all(g.get("name") and g.get("rules") for g in groups),
                  f"{p} {name}: every group has a name and rules")
            rules = [r for g in groups for r in g.get("rules", [])]
            bad = [r.get("alert") or r.get("record") for r in rules
                   if not (bool(r.get("alert")) ^ bool(r.get("record"))) or not str(r.get("expr", "")).strip()]
            check(not bad, f"{p} {name}: every rule is an alert or a record with an expr", repr(bad))
            for r in rules:
                if "for" in r:
                    try:
                        duration_seconds(str(r["for"]).replace("0m", "0s") if r["for"] == "0m" else str(r["for"]))
                    except ValueError:
                        fail(f"{p} {name}: {r.get('alert')}: `for: {r['for']}` is not a duration")
            used = {m_ for r in rules for m_ in re.findall(r"\blatchkey_[a-z_]+", str(r.get("expr", "")))}
            check(used and used <= known, f"{p} {name}: the latchkey_* metrics it uses are ones latchkey exports",
                  "unknown " + ", ".join(sorted(used - known)))
            alerts = " ".join(str(r.get("expr", "")) for r in rules)
            themes = {"5xx ratio": 'status=~"5', "Redis errors": 'dependency="redis"',
                      "database errors": 'dependency="database"', "readiness flapping": "kube_pod_status_ready",
                      "quota refusals": "latchkey_quota_refusals_total"}
            missing = [t for t, needle in themes.items() if needle not in alerts]
            check(not missing, f"{p} {name}: alerts on {', '.join(themes)}", "missing " + ", ".join(missing))


def generated_config(p, objects):
    dep = [o for o in objects if o["kind"] == "Deployment"][0]
    refs = [src["configMapRef"]["name"] for c in dep["spec"]["template"]["spec"]["containers"]
            for src in c.get("envFrom", []) if "configMapRef" in src]
    check(refs and all(re.fullmatch(r"latchkey-config-[a-z0-9]{10}", r) for r in refs),
          f"{p} the Deployment reads a ConfigMap named by its content (configMapGenerator: a change rolls the pods)",
          repr(refs))


for target, objects in rendered.items():
    try:
        policy(target, objects)
        dep = [o for o in objects if o["kind"] == "Deployment"][0]
        tmpl_labels = dep["spec"]["template"]["metadata"].get("labels", {})
        ports = {cp.get("name"): cp["containerPort"] for c in dep["spec"]["template"]["spec"]["containers"]
                 for cp in c.get("ports", [])}
        services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
        cms = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
        network_policy(f"{target}:", objects, tmpl_labels, ports)
        generated_config(f"{target}:", objects)
        crd_checks(f"{target}:", objects, tmpl_labels, ports, services, cms)
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        fail(f"{target}: malformed manifest, {type(e).__name__}: {e}")
kinds = {o["kind"] for objects in rendered.values() for o in objects}
check(CRD_KINDS <= kinds, "the custom resources HTTPRoute, PodMonitor and PrometheusRule are rendered and checked",
      "missing " + ", ".join(sorted(CRD_KINDS - kinds)))

print(f"manifests: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
exit "$status"
