#!/bin/bash
# The Kubernetes way, checked without a cluster: every kustomization under
# deploy/kubernetes renders with `kubectl kustomize` (Debian 12's kubectl 1.20
# or a later one) once the webhook secret file exists, and not without it;
# every rendered object validates offline against the Kubernetes API schema
# (tests/e2e/k8s_validate.py: python3-kubernetes' models, a vendored schema
# for the ServiceMonitor) and against the other objects; the pods have the
# shape the README promises; the ConfigMaps' bramble.yaml load in bramble;
# the sites form's DaemonSet takes its selector from its node's label (its
# init script and command line run here with stand-ins for kubectl and bramble);
# and the reload commands reach the servers: bramble's `kill` by pid file
# (the daemon form's shared process namespace) and the CronJob form's request
# file taken by the reloader, each run against stand-in servers here.
. "$(dirname "$0")/lib.sh"

command -v kubectl >/dev/null || skip_test "no kubectl (scripts/install-deps.sh --test installs kubernetes-client)"
PY=/usr/bin/python3 # Debian's, with python3-kubernetes, python3-yaml and python3-jsonschema
"$PY" -c 'import kubernetes.client, jsonschema, yaml' 2>/dev/null ||
	skip_test "no python3-kubernetes or python3-jsonschema (scripts/install-deps.sh --test)"
kubectl version --client 2>/dev/null | head -1

K=$W/k8s
cp -r "$SRC/deploy/kubernetes" "$K"
rm -f "$K/base/webhook-secret" # a developer's own, if there is one
check "no webhook secret is committed (base/webhook-secret is ignored by git)" \
	bash -c "cd '$SRC' && git check-ignore -q deploy/kubernetes/base/webhook-secret &&
		test -z \"\$(git ls-files deploy/kubernetes/base/webhook-secret)\""
expect_rc 1 "without base/webhook-secret the build fails" kubectl kustomize "$K"
contains "$W/last.err" "webhook-secret" "and names the missing file"
(umask 077 && printf 'dummy-webhook-secret' >"$K/base/webhook-secret")

render() { # DIR OUT: kubectl kustomize DIR >OUT (its deprecation warnings aside)
	kubectl kustomize "$1" >"$2" 2>"$2.err"
}
kinds() { "$PY" -c 'import sys, yaml; print(" ".join(sorted(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1])) if d)))' "$1"; }
for dir in "$K" $(find "$K/overlays" -mindepth 1 -maxdepth 1 -type d | sort); do
	name=${dir#"$K"}
	name=${name#/}
	name=${name:-deploy/kubernetes}
	out=$W/$(echo "$name" | tr / _).yaml
	check "kubectl kustomize renders $name" render "$dir" "$out"
	expect_rc 0 "$name: every object is valid ($(kinds "$out"))" "$PY" "$SRC/tests/e2e/k8s_validate.py" "$out"
	grep '^error' "$W/last.out" | head -20
done
D=$W/deploy_kubernetes.yaml
C=$W/overlays_cronjob.yaml
check "the monitoring overlay has a ServiceMonitor" grep -q '^kind: ServiceMonitor' "$W/overlays_monitoring.yaml"
check "the ingress overlay has an Ingress" grep -q '^kind: Ingress' "$W/overlays_ingress.yaml"
check "the cronjob overlay has a CronJob" grep -q '^kind: CronJob' "$C"
check "the base alone renders too" render "$K/base" "$W/base.yaml"

# The validator can fail: a field that is not in the schema, a wrong type, a
# required field missing, a volume naming a ConfigMap that is not there.
cat >"$W/bad.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  replica: 1
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      hostNetwork: "yes"
      containers:
        - image: x
          volumeMounts: [{name: c, mountPath: /c}]
      volumes:
        - name: c
          configMap: {name: nowhere}
EOF
expect_rc 1 "the validator refuses a bad Deployment" "$PY" "$SRC/tests/e2e/k8s_validate.py" "$W/bad.yaml"
contains "$W/last.out" 'unknown field "replica" in V1DeploymentSpec' "an unknown field"
contains "$W/last.out" "spec.template.spec.hostNetwork: expected bool, got str 'yes'" "a wrong type"
contains "$W/last.out" 'Invalid value for `name`, must not be `None`' "a missing required field"
contains "$W/last.out" 'ConfigMap "nowhere" is not among the objects' "a dangling reference"
printf 'apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\nspec:\n  selector: {matchLabels: {a: b}}\n  endpoints: [{port: http, intervall: 30s}]\n' >"$W/bad-sm.yaml"
expect_rc 1 "and a ServiceMonitor with a typo" "$PY" "$SRC/tests/e2e/k8s_validate.py" "$W/bad-sm.yaml"
contains "$W/last.out" "'intervall' was unexpected" "found by the vendored schema"

# The pods, as the README says they are.
"$PY" - "$D" "$C" >"$W/shape.out" 2>&1 <<'EOF'
import sys, yaml
def objs(path):
    return {d["kind"]: d for d in yaml.safe_load_all(open(path)) if d}
def say(ok, what):
    print(("ok" if ok else "not ok") + " - " + what)
def containers_ok(where, spec):
    for c in spec["containers"]:
        sc, res = c.get("securityContext", {}), c.get("resources", {})
        say(all(k in res.get(r, {}) for r in ("requests", "limits") for k in ("cpu", "memory")),
            f"{where}/{c['name']}: cpu and memory requests and limits")
        say(sc.get("readOnlyRootFilesystem") is True, f"{where}/{c['name']}: read-only root file system")
        say(sc.get("allowPrivilegeEscalation") is False and not sc.get("privileged"),
            f"{where}/{c['name']}: no privilege escalation, not privileged")
        say(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}/{c['name']}: drops every capability")
d = objs(sys.argv[1])
dep = d["Deployment"]
pod = dep["spec"]["template"]["spec"]
say(dep["spec"]["strategy"]["type"] == "Recreate" and dep["spec"]["replicas"] == 1, "one replica, Recreate")
say(pod.get("hostNetwork") is True, "hostNetwork (DHCP and TFTP)")
say(pod.get("shareProcessNamespace") is True, "one process namespace (reloads by signal)")
say(pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", "the runtime's seccomp profile")
say(pod.get("automountServiceAccountToken") is False, "no API token mounted")
names = [c["name"] for c in pod["containers"]]
say(names == ["bramble", "dnsmasq", "ganesha"], f"containers bramble, dnsmasq, ganesha ({names})")
b = pod["containers"][0]
say(b["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness probe on /healthz")
say(b["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness probe on /readyz")
say("KILL" in b["securityContext"]["capabilities"]["add"], "bramble may signal the servers (KILL)")
mounts = {c["name"]: {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])} for c in pod["containers"]}
say(all(mounts[n].get("run") == "/run/bramble" and mounts[n].get("srv") == "/srv/bramble" for n in names),
    "all three share /run/bramble (pid files) and /srv/bramble (the roots)")
containers_ok("deployment", pod)
say(d["Service"]["spec"]["ports"][0]["port"] == 9420, "a Service on 9420 for /metrics and the webhook")
c = objs(sys.argv[2])
cj = c["CronJob"]
jpod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
say(jpod["containers"][0]["args"][0] == "apply", "the CronJob runs bramble apply")
say(cj["spec"]["concurrencyPolicy"] == "Forbid", "passes never overlap")
containers_ok("cronjob", jpod)
spod = c["Deployment"]["spec"]["template"]["spec"]
say([x["name"] for x in spod["containers"]] == ["reloader", "dnsmasq", "ganesha"],
    "the cronjob form's server pod: reloader, dnsmasq, ganesha, no bramble")
say(spod.get("shareProcessNamespace") is True, "the reloader shares the servers' process namespace")
containers_ok("cronjob server", spod)
say("Service" not in c, "no Service without a daemon")
EOF
while read -r verdict rest; do
	case $verdict in ok) ok "${rest#- }" ;; *) not_ok "${rest#*- }" ;; esac
done <"$W/shape.out"
check "the shape check ran" grep -q "one replica, Recreate" "$W/shape.out"

# The sites form (overlays/sites): a DaemonSet, one instance per labelled node.
S=$W/overlays_sites.yaml
"$PY" - "$S" >"$W/sites.out" 2>&1 <<'EOF'
import sys, yaml
def say(ok, what):
    print(("ok" if ok else "not ok") + " - " + what)
d = {x["kind"]: x for x in yaml.safe_load_all(open(sys.argv[1])) if x}
say("Deployment" not in d and "PersistentVolumeClaim" not in d, "sites: no Deployment, no claims")
ds = d["DaemonSet"]
pod = ds["spec"]["template"]["spec"]
terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
say(terms == [{"matchExpressions": [{"key": "bramble.io/site", "operator": "Exists"}]}],
    "sites: only on nodes labelled bramble.io/site")
say(pod.get("hostNetwork") is True and pod.get("shareProcessNamespace") is True, "sites: hostNetwork, one process namespace")
say(pod.get("automountServiceAccountToken") is False, "sites: no token mounted by default")
tok = [c["name"] for c in pod["initContainers"] + pod["containers"]
       if any(m["name"] == "api-token" for m in c.get("volumeMounts", []))]
say(tok == ["site"], f"sites: only the init container mounts the API token ({tok})")
say(d["ClusterRole"]["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}],
    "sites: the ClusterRole allows get on nodes, nothing else")
say(d["ClusterRoleBinding"]["subjects"][0]["name"] == pod["serviceAccountName"], "sites: bound to the pod's account")
hp = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
say(hp == {"srv": "/srv/bramble", "state": "/var/lib/bramble"}, "sites: roots and state on the node's own disks")
names = [c["name"] for c in pod["containers"]]
say(names == ["bramble", "dnsmasq", "ganesha"], f"sites: containers bramble, dnsmasq, ganesha ({names})")
b = pod["containers"][0]
say(b["livenessProbe"]["httpGet"]["path"] == "/healthz", "sites: liveness probe on /healthz")
for c in pod["initContainers"] + pod["containers"]:
    sc = c.get("securityContext", {})
    say(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
        and sc.get("capabilities", {}).get("drop") == ["ALL"], f"sites/{c['name']}: locked down")
say(pod["initContainers"][0]["securityContext"].get("runAsNonRoot") is True, "sites: the init container is not root")
open(sys.argv[1] + ".init.sh", "w").write(pod["initContainers"][0]["command"][2])
open(sys.argv[1] + ".run.sh", "w").write(b["command"][2])
EOF
while read -r verdict rest; do
	case $verdict in ok) ok "${rest#- }" ;; *) not_ok "${rest#*- }" ;; esac
done <"$W/sites.out"
check "the sites check ran" grep -q "only on nodes labelled" "$W/sites.out"
# The init container's script and bramble's command line, run here with a
# stand-in kubectl (the node's labels) and a stand-in bramble (its argv).
mkdir -p "$W/sb" "$W/site"
cat >"$W/sb/kubectl" <<EOF
#!/bin/sh
case "\$*" in *io/site*) printf %s "\$SITE" ;; *io/server*) printf %s "\$SERVER" ;; esac
EOF
cat >"$W/sb/bramble" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$W/argv"
EOF
chmod +x "$W/sb/kubectl" "$W/sb/bramble"
sed -e "s#/run/bramble-site#$W/site#g" "$S.init.sh" >"$W/init.sh"
sed -e "s#/run/bramble-site#$W/site#g" -e "s#/usr/bin/bramble#$W/sb/bramble#" "$S.run.sh" >"$W/run.sh"
site_init() { SITE=$1 SERVER=$2 NODE_NAME=n1 PATH="$W/sb:$PATH" sh "$W/init.sh"; }
expect_rc 0 "the init container takes the node's site label" site_init rack-b ""
expect_rc 0 "bramble's container starts with it" env POD_IP=10.99.0.7 sh "$W/run.sh"
contains "$W/argv" "selector=site=rack-b" "bramble runs with selector=site=<the label>"
contains "$W/argv" "server=10.99.0.7" "and the node's address as its server"
expect_rc 0 "a bramble.io/server label" site_init rack-b 10.99.0.20
env POD_IP=10.99.0.7 sh "$W/run.sh"
contains "$W/argv" "server=10.99.0.20" "names the server instead"
expect_rc 1 "a node without the label does not start" site_init "" ""
expect_rc 1 "a label that is not a plain value is refused" site_init 'a,b=c' ""
expect_rc 1 "a server label that is not an address is refused" site_init rack-b 'x;y'

# cm FILE NAME KEY: a key of the rendered ConfigMap whose name starts with NAME.
cm() {
	"$PY" -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(sys.argv[2] + "-"):
        sys.stdout.write(d["data"][sys.argv[3]])' "$@"
}
cm "$D" bramble-config bramble.yaml >"$W/daemon.yaml"
cm "$C" bramble-config bramble.yaml >"$W/cron.yaml"
cm "$C" bramble-reloader reloader.sh >"$W/reloader.sh"
cm "$S" bramble-config bramble.yaml >"$W/sites.yaml"
mkdir -p "$W/repo" && cp -r "$SRC/manifests/examples/." "$W/repo/"
example_secrets "$W/repo" # validate checks that secret files are in paths.secretsDir
for f in daemon cron sites; do
	expect_rc 0 "the $f form's ConfigMap bramble.yaml loads (bramble validate)" \
		"$BRAMBLE" validate -c "$W/$f.yaml" --source "$W/repo" --set paths.secretsDir="$W/secrets"
	contains "$W/last.out" "configuration OK" "and says so"
done
check "the reloader script is sound shell" sh -n "$W/reloader.sh"
check "the dnsmasq container writes the pid file bramble signals" \
	grep -q -- "--pid-file=/run/bramble/dnsmasq.pid" "$D"
check "ganesha's start script writes the pid file bramble signals" \
	grep -q -- "-p /run/bramble/ganesha.pid" "$SRC/deploy/container/ganesha-start.sh"

# Reloads, with stand-ins for dnsmasq and ganesha that record their signals,
# and a real `bramble apply` of the examples with each form's configuration
# (its paths moved under $W): its first pass writes dnsmasq's main file and
# the exports, so it restarts dnsmasq and reloads (or restarts) ganesha.
server() { # NAME: a stand-in whose pid is in $W/run/NAME.pid
	bash -c "trap 'echo $1 HUP >>$W/signals' HUP
		trap 'echo $1 TERM >>$W/signals; exit 0' TERM
		echo \$\$ >$W/run/$1.pid.tmp && mv $W/run/$1.pid.tmp $W/run/$1.pid
		while :; do sleep 0.1; done" &
	T_PIDS+=($!)
}
form() { # CONFIG: move its paths under $W, start the stand-ins, apply once
	rm -rf "$W/srv" "$W/state" "$W/run" "$W/signals"
	mkdir -p "$W/run" "$W/state/images" && touch "$W/signals"
	cp -a "$W/demo-os" "$W/state/images/demo-os"
	sed -e "s#/srv/bramble#$W/srv#g" -e "s#/var/lib/bramble#$W/state#g" -e "s#/run/bramble#$W/run#g" \
		"$1" >"$W/form.yaml"
	server dnsmasq
	server ganesha
	wait_for 5 test -s "$W/run/dnsmasq.pid" -a -s "$W/run/ganesha.pid"
	expect_rc 0 "bramble apply with $(basename "$1")" "$BRAMBLE" apply -c "$W/form.yaml" \
		--source "$W/repo" --set dhcp.testCommand= --set paths.secretsDir="$W/secrets"
}
sh "$SRC/scripts/make-demo-image.sh" "$W/demo-os" >/dev/null
form "$W/daemon.yaml"
check "daemon form: bramble's restart command reaches dnsmasq (SIGTERM by pid file)" \
	wait_for 5 grep -q "dnsmasq TERM" "$W/signals"
check "daemon form: and its NFS command reaches ganesha" wait_for 5 grep -Eq "ganesha (HUP|TERM)" "$W/signals"

form "$W/cron.yaml"
check "cronjob form: the apply leaves request files" test -e "$W/srv/requests/dnsmasq-restart"
lacks "$W/signals" "dnsmasq" "and signals nothing itself (another pod)"
REQUESTS=$W/srv/requests RUN=$W/run EVERY=0.2 sh "$W/reloader.sh" 2>"$W/reloader.log" &
RPID=$!
T_PIDS+=("$RPID")
check "the reloader restarts dnsmasq (SIGTERM)" wait_for 5 grep -q "dnsmasq TERM" "$W/signals"
check "and reloads or restarts ganesha" wait_for 5 grep -Eq "ganesha (HUP|TERM)" "$W/signals"
check "and takes the requests" wait_for 5 test -z "$(ls "$W/srv/requests")"
rm -f "$W/run/dnsmasq.pid" && : >"$W/signals"
server dnsmasq # the kubelet's restart
wait_for 5 test -s "$W/run/dnsmasq.pid"
sh -c "$(sed -n 's#^  reloadCommand: "\(.*dnsmasq-reload.*\)"$#\1#p' "$W/form.yaml")"
check "a dnsmasq reload request is a SIGHUP" wait_for 5 grep -q "dnsmasq HUP" "$W/signals"
rm -f "$W/run/ganesha.pid"
sh -c "$(sed -n 's#^  reloadCommand: "\(.*ganesha-reload.*\)"$#\1#p' "$W/form.yaml")"
check "a request for a server that is not running is taken, and said" \
	wait_for 5 grep -q "ganesha is not running" "$W/reloader.log"
stop_pid "$RPID"
done_testing
