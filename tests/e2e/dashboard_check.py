#!/usr/bin/env python3
"""Check a Grafana dashboard against a /metrics exposition (test_dashboard.sh).

  dashboard_check.py DASHBOARD.json METRICS.txt
Prints one line per check (ok / FAIL) and exits 1 when any failed.
"""
import json, re, sys
dash = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
fails = []
def check(ok, what):
    print(("ok" if ok else "FAIL") + " " + what)
    if not ok: fails.append(what)
families = set(re.findall(r"^# TYPE (bramble_\w+) ", text, re.M))
samples = re.findall(r"^(bramble_\w+)(\{[^}]*\})? ", text, re.M)
labels = {}
for name, lab in samples:
    for k, v in re.findall(r'(\w+)="([^"]*)"', lab or ""):
        labels.setdefault((name, k), set()).add(v)
def family(n):
    for s in ("_bucket", "_sum", "_count"):
        if n.endswith(s) and n[: -len(s)] in families: return n[: -len(s)]
    return n
panels = dash["panels"]
ids = [p["id"] for p in panels]
check(len(ids) == len(set(ids)), "panel ids are unique")
check(dash.get("uid") == "bramble" and isinstance(dash.get("schemaVersion"), int), "uid and schemaVersion")
varnames = {v["name"] for v in dash["templating"]["list"]}
check({"datasource", "instance"} <= varnames, "variables: datasource and instance")
used = set()
for p in panels:
    g = p["gridPos"]
    check(g["x"] + g["w"] <= 24 and g["w"] > 0 and g["h"] > 0, f"panel {p['id']} fits the grid")
    if p["type"] == "row": continue
    check(p.get("datasource", {}).get("uid") == "${datasource}", f"panel {p['title']!r} on the data source variable")
    check(bool(p.get("description")), f"panel {p['title']!r} says what it shows")
    refs = [t["refId"] for t in p["targets"]]
    check(len(refs) == len(set(refs)), f"panel {p['title']!r}: refIds unique")
    for t in p["targets"]:
        e = t["expr"]
        check('instance=~"$instance"' in e, f"{p['title']!r}: {e[:50]}... filters by $instance")
        for n in re.findall(r"\bbramble_\w+", e):
            f = family(n)
            check(f in families, f"{p['title']!r}: {n} is exported")
            used.add(f)
        for n, sel in re.findall(r"(bramble_\w+)\{([^}]*)\}", e):
            for k, v in re.findall(r'(\w+)="([^"]*)"', sel):
                if k == "instance": continue
                check(v in labels.get((n, k), set()), f"{p['title']!r}: {n}{{{k}=\"{v}\"}} is a series the daemon emits")
for f in sorted(families):
    check(f in used, f"{f} is on a panel")
print("FAILED: %d" % len(fails) if fails else "all good")
sys.exit(1 if fails else 0)
