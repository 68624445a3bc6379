#!/usr/bin/python3
"""Validate Kubernetes objects offline: k8s_validate.py RENDERED.yaml...

Each document of the YAML streams (the output of `kubectl kustomize`) is
checked against the Kubernetes API's own schema as Debian 12 ships it: the
models of python3-kubernetes (22.6, the Kubernetes 1.22 API), which are
generated from the API's OpenAPI definitions and carry every field's type
and which fields are required.  Unknown fields, wrong types, a missing
required field or an unknown apiVersion/kind are errors.  A ServiceMonitor
(a CRD of the Prometheus Operator) is checked with python3-jsonschema against
k8s/servicemonitor.schema.json.

Then the objects are checked against each other, which no schema does: every
ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount that a pod uses
exists (unless the volume is optional), a Service selects a pod template's
labels and names a port the containers have, a ServiceMonitor selects a
Service and names its port, an Ingress routes to a Service port that exists.

Prints one "ok KIND/NAME" line per valid object; exits 1 after listing every
error, 0 when there is none.
"""
import json
import os
import re
import sys

import jsonschema
import yaml
from kubernetes import client

HERE = os.path.dirname(os.path.abspath(__file__))

# apiVersion -> the prefix of python3-kubernetes' model names
GROUPS = {
    "v1": "V1",
    "apps/v1": "V1",
    "batch/v1": "V1",
    "networking.k8s.io/v1": "V1",
    "policy/v1": "V1",
    "rbac.authorization.k8s.io/v1": "V1",
    "autoscaling/v2beta2": "V2beta2",
}
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "k8s/servicemonitor.schema.json",
}
LIST_RE = re.compile(r"^list\[(.*)\]$")
DICT_RE = re.compile(r"^dict\(([^,]*), (.*)\)$")


class Checker:
    def __init__(self):
        self.errors = []
        self.cfg = client.Configuration()
        self.cfg.client_side_validation = True

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def value(self, v, typ, where):
        """Check v against a python3-kubernetes type string."""
        m = LIST_RE.match(typ)
        if m:
            if not isinstance(v, list):
                return self.err(where, f"expected a list, got {type(v).__name__}")
            for i, item in enumerate(v):
                self.value(item, m.group(1), f"{where}[{i}]")
            return None
        m = DICT_RE.match(typ)
        if m:
            if not isinstance(v, dict):
                return self.err(where, f"expected a map, got {type(v).__name__}")
            for k, item in v.items():
                if not isinstance(k, str):
                    self.err(where, f"key {k!r} is not a string")
                self.value(item, m.group(2), f"{where}.{k}")
            return None
        simple = {"str": str, "bool": bool, "float": (int, float), "datetime": str, "date": str}
        if typ in simple:
            if not isinstance(v, simple[typ]) or (typ == "float" and isinstance(v, bool)):
                self.err(where, f"expected {typ}, got {type(v).__name__} {v!r}")
            return None
        if typ == "int":
            if not isinstance(v, int) or isinstance(v, bool):
                self.err(where, f"expected int, got {type(v).__name__} {v!r}")
            return None
        if typ == "object":  # IntOrString, RawExtension, ...
            return None
        return self.model(v, typ, where)

    def model(self, v, name, where):
        cls = getattr(client, name, None)
        if cls is None:
            return self.err(where, f"no model {name} in python3-kubernetes")
        if not isinstance(v, dict):
            return self.err(where, f"expected an object ({name}), got {type(v).__name__}")
        by_json = {j: py for py, j in cls.attribute_map.items()}
        kwargs = {}
        for key, item in v.items():
            py = by_json.get(key)
            if py is None:
                self.err(where, f"unknown field \"{key}\" in {name}")
                continue
            self.value(item, cls.openapi_types[py], f"{where}.{key}")
            kwargs[py] = item
        try:  # the generated setters refuse a missing required field and bad enums
            cls(local_vars_configuration=self.cfg, **kwargs)
        except (ValueError, TypeError) as e:
            self.err(where, f"{name}: {e}")
        return None

    def document(self, doc):
        if not isinstance(doc, dict):
            return self.err("?", "a document that is not an object")
        api, kind = doc.get("apiVersion"), doc.get("kind")
        name = (doc.get("metadata") or {}).get("name")
        where = f"{kind}/{name}"
        if not name:
            self.err(where, "metadata.name is missing")
        crd = CRD_SCHEMAS.get((api, kind))
        if crd:
            with open(os.path.join(HERE, crd), encoding="utf-8") as f:
                schema = json.load(f)
            for e in jsonschema.Draft7Validator(schema).iter_errors(doc):
                self.err(where, f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}")
            self.model(doc.get("metadata"), "V1ObjectMeta", f"{where}.metadata")
            return where
        prefix = GROUPS.get(api)
        if prefix is None or getattr(client, prefix + kind, None) is None:
            return self.err(where, f"no schema for apiVersion {api}, kind {kind}")
        self.model(doc, prefix + kind, where)
        return where


def pod_specs(objs):
    """(where, pod template spec, pod labels) of every workload."""
    for o in objs:
        kind, spec = o.get("kind"), o.get("spec") or {}
        where = f"{kind}/{o['metadata'].get('name')}"
        if kind in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
            t = spec.get("template") or {}
        elif kind == "CronJob":
            t = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        else:
            continue
        yield where, t.get("spec") or {}, (t.get("metadata") or {}).get("labels") or {}


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def cross_check(objs, c):
    names = {(o.get("kind"), o["metadata"].get("name")) for o in objs}
    pods = list(pod_specs(objs))
    for where, spec, _ in pods:
        sa = spec.get("serviceAccountName")
        if sa and ("ServiceAccount", sa) not in names:
            c.err(where, f"service account \"{sa}\" is not among the objects")
        for vol in spec.get("volumes") or []:
            for key, kind, field in (("configMap", "ConfigMap", "name"),
                                     ("secret", "Secret", "secretName"),
                                     ("persistentVolumeClaim", "PersistentVolumeClaim", "claimName")):
                src = vol.get(key)
                if src is None or src.get("optional"):
                    continue
                if (kind, src.get(field)) not in names:
                    c.err(where, f"volume \"{vol.get('name')}\": {kind} \"{src.get(field)}\" is not among the objects")
        vols = {v.get("name") for v in spec.get("volumes") or []}
        for ctr in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for m in ctr.get("volumeMounts") or []:
                if m.get("name") not in vols:
                    c.err(where, f"container \"{ctr.get('name')}\" mounts \"{m.get('name')}\", no such volume")
    services = [o for o in objs if o.get("kind") == "Service"]
    for s in services:
        where = f"Service/{s['metadata']['name']}"
        sel = (s.get("spec") or {}).get("selector") or {}
        chosen = [p for p in pods if selects(sel, p[2])]
        if not chosen:
            c.err(where, f"selector {sel} matches no pod template")
        ports = {p.get("name") for _, spec, _ in chosen for ctr in spec.get("containers") or []
                 for p in ctr.get("ports") or []}
        for p in (s.get("spec") or {}).get("ports") or []:
            tp = p.get("targetPort")
            if isinstance(tp, str) and tp not in ports:
                c.err(where, f"targetPort \"{tp}\" is no container port of the pods it selects")
    for o in objs:
        where = f"{o.get('kind')}/{o['metadata'].get('name')}"
        if o.get("kind") == "ServiceMonitor":
            sel = ((o.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            svc = [s for s in services if selects(sel, s["metadata"].get("labels") or {})]
            if not svc:
                c.err(where, f"selector {sel} matches no Service")
            svc_ports = {p.get("name") for s in svc for p in s["spec"].get("ports") or []}
            for ep in o["spec"].get("endpoints") or []:
                if ep.get("port") and ep["port"] not in svc_ports:
                    c.err(where, f"endpoint port \"{ep['port']}\" is no port of the Services it selects")
        if o.get("kind") == "Ingress":
            for rule in (o.get("spec") or {}).get("rules") or []:
                for path in ((rule.get("http") or {}).get("paths")) or []:
                    b = (path.get("backend") or {}).get("service") or {}
                    s = [x for x in services if x["metadata"]["name"] == b.get("name")]
                    if not s:
                        c.err(where, f"backend service \"{b.get('name')}\" is not among the objects")
                        continue
                    port = b.get("port") or {}
                    have = {(p.get("name"), p.get("port")) for p in s[0]["spec"].get("ports") or []}
                    if not any(port.get("name") == n or port.get("number") == n2 for n, n2 in have):
                        c.err(where, f"backend port {port} is no port of Service \"{b.get('name')}\"")


def main(paths):
    c = Checker()
    objs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                n = len(c.errors)
                where = c.document(doc)
                if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
                    objs.append(doc)
                if where and len(c.errors) == n:
                    print(f"ok {where}")
    cross_check(objs, c)
    for e in c.errors:
        print(f"error: {e}")
    return 1 if c.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
