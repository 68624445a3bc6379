#!/bin/bash
# test_schema: the JSON Schema for editors agrees with the example repository.
#
# Every document of manifests/examples and of the valid corpus base is
# converted to JSON (python3-yaml) and validated against
# manifests/schema/bramble.schema.json (python3-jsonschema); a few documents
# bramble rejects must be rejected by the schema too, so the test can fail.
# Needs: python3, python3-yaml, python3-jsonschema (Debian packages).
set -u

src=${BRAMBLE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

if ! python3 -c 'import yaml, jsonschema' 2>/dev/null; then
	echo "test_schema: needs python3 with yaml and jsonschema" \
		"(apt-get install python3-yaml python3-jsonschema)" >&2
	exit 77
fi

python3 - "$src" <<'PY'
import glob, json, os, sys
import jsonschema, yaml

src = sys.argv[1]
schema = json.load(open(os.path.join(src, "manifests/schema/bramble.schema.json")))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
passed = failed = 0

def check(name, doc, want_valid):
    global passed, failed
    # Round-trip through JSON: what an editor's schema validation sees.
    doc = json.loads(json.dumps(doc))
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    ok = (not errors) == want_valid
    if ok:
        passed += 1
        return
    failed += 1
    if want_valid:
        # oneOf only says "no kind matched": explain with the document's own kind.
        branch = [b for b in schema["oneOf"] if b["properties"]["kind"].get("const") == doc.get("kind")]
        if branch:
            sub = dict(branch[0], **{"$defs": schema["$defs"]})
            errors = list(jsonschema.Draft202012Validator(sub).iter_errors(doc)) or errors
        e = jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        print(f"FAIL {name}: rejected by the schema at {where}: {e.message[:200]}")
    else:
        print(f"FAIL {name}: accepted by the schema, but bramble rejects it")

good = sorted(glob.glob(os.path.join(src, "manifests/examples/**/*.yaml"), recursive=True))
good += sorted(glob.glob(os.path.join(src, "tests/bad/base/*.yaml")))
if len(good) < 5:
    print("FAIL: example manifests not found")
    failed += 1
for path in good:
    rel = os.path.relpath(path, src)
    with open(path) as f:
        for i, doc in enumerate(yaml.safe_load_all(f)):
            if doc is not None:
                check(f"{rel} document {i + 1}", doc, True)

node = {"apiVersion": "bramble/v1alpha1", "kind": "Node", "metadata": {"name": "pi-a"},
        "spec": {"serial": "1234abcd"}}

def variant(**spec):
    d = json.loads(json.dumps(node))
    d["spec"].update(spec)
    return d

bad = {
    "unknown key in a Node spec": variant(serail="1234abcd"),
    "serial in upper case": {**node, "spec": {"serial": "1234ABCD"}},
    "unknown kind": {**node, "kind": "Pod"},
    "wrong apiVersion": {**node, "apiVersion": "bramble/v1"},
    "name with a slash": {**node, "metadata": {"name": "a/b"}},
    "cmdline with root=": variant(boot={"cmdline": ["root=/dev/sda1"]}),
    "plaintext passwordHash": variant(firstBoot={"users": [{"name": "pi", "passwordHash": "raspberry"}]}),
    "relative secret file": variant(firstBoot={"wifi": {"ssid": "x", "passphrase": {"file": "wifi"}}}),
    "list where a map is expected": variant(root=["private"]),
    "serial in a Profile": {"apiVersion": "bramble/v1alpha1", "kind": "Profile",
                            "metadata": {"name": "p"}, "spec": {"serial": "1234abcd"}},
    "Image with url and path": {"apiVersion": "bramble/v1alpha1", "kind": "Image", "metadata": {"name": "i"},
                                "spec": {"url": "file:///x.img", "path": "x"}},
    "https Image without sha256": {"apiVersion": "bramble/v1alpha1", "kind": "Image", "metadata": {"name": "i"},
                                   "spec": {"url": "https://example.org/x.img"}},
    "Image path with ..": {"apiVersion": "bramble/v1alpha1", "kind": "Image", "metadata": {"name": "i"},
                           "spec": {"path": "x/../y"}},
    "Cluster without subnet": {"apiVersion": "bramble/v1alpha1", "kind": "Cluster", "metadata": {"name": "c"},
                               "spec": {"server": "10.0.0.1"}},
}
for name, doc in bad.items():
    check(f"bad: {name}", doc, False)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
