#!/bin/bash
# bench_webhook: figures for `bramble run` (prints figures, asserts nothing).
#
#  1. Commit-to-applied latency through the webhook: a 1,000-node repository
#     served by the daemon; each round changes one node's config.txt setting,
#     commits it (git source) or just writes it (directory source), POSTs a
#     signed webhook, and polls the node's served config.txt until the new
#     value is there.  Median, 90th percentile and worst over the rounds
#     (default 25; target at 10,000 nodes: median <= 150 ms, p90 <= 200 ms,
#     worst <= 400 ms; the first round starts once /readyz says ready, the
#     time to which is printed), beside the daemon's own pass time, and the CPU time of
#     the daemon with its fetch processes per webhook pass and per no-op pass.
#  2. CPU time (user+sys) of a steady-state pass (nothing changed) at 1,000 and
#     10,000 nodes: `bramble apply` as a process (wait4 rusage, median of 5),
#     and one pass inside the daemon after SIGHUP (the loop thread's CPU time
#     from /proc/PID/task/PID/schedstat, median of 5).
#
# The source is a file:// git repository when this bramble can read one, else
# a plain directory (said in the output).  Everything runs on loopback, in a
# scratch directory that is removed at the end.
#
# Usage: bash tests/bench/bench_webhook.sh [--bramble PATH]
#   Without --bramble it builds bramble in Release in BENCH_BUILD_DIR
#   (default <source>/build-bench).  Environment: BENCH_DIR (scratch parent,
#   default /tmp), BENCH_KEEP=1 (keep the scratch directory), BENCH_ROUNDS
#   (default 25), BENCH_SIZES (default "1000 10000"), BENCH_LATENCY_NODES
#   (default 1000), BENCH_RSS_PASSES (default 100; 0: no RSS loop) and
#   BENCH_RSS_NODES (default 1000): the daemon's RSS sampled every 10 passes,
#   and its peak (VmHWM) of the start and, reset after it, of the passes after.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
bramble=
if [ "${1:-}" = "--bramble" ]; then
	bramble=$2
else
	build=${BENCH_BUILD_DIR:-$src/build-bench}
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$build" --target bramble -j "$(nproc)" >/dev/null
	bramble=$build/controller/bramble
fi
scratch=$(mktemp -d "${BENCH_DIR:-/tmp}/bench_webhook.XXXXXX")
cleanup() { [ -n "${BENCH_KEEP:-}" ] || rm -rf "$scratch"; }
trap cleanup EXIT
python3 - "$bramble" "$src" "$scratch" <<'PY'
import hashlib, hmac, http.client, os, re, signal, statistics, subprocess, sys, time

bramble, src, scratch = sys.argv[1:4]
rounds = int(os.environ.get("BENCH_ROUNDS", "25"))
sizes = [int(x) for x in os.environ.get("BENCH_SIZES", "1000 10000").split()]
latency_nodes = int(os.environ.get("BENCH_LATENCY_NODES", "1000"))
secret = b"bench-secret"
GPU_DEFAULT = 16
PER_FILE = 100
procs = []

def serial(i): return "%08x" % (0xb0000000 + i)

class Repo:
    """A generated cluster: one Cluster (full DHCP), one Image, one Profile, n nodes."""
    def __init__(self, path, n, git):
        self.path, self.n, self.git = path, n, git
        self.gpu = [GPU_DEFAULT] * n
        os.makedirs(os.path.join(path, "nodes"))
        self.write("cluster.yaml",
            "apiVersion: bramble/v1alpha1\nkind: Cluster\nmetadata: {name: bench}\nspec:\n"
            "  server: 10.0.0.1\n  subnet: 10.0.0.0/16\n  router: 10.0.0.254\n"
            "  dns: [10.0.0.254]\n  dhcp: {mode: full}\n"
            "  defaults: {image: demo-os, profiles: [base]}\n"
            "---\napiVersion: bramble/v1alpha1\nkind: Image\nmetadata: {name: demo-os}\n"
            "spec: {path: demo-os}\n"
            "---\napiVersion: bramble/v1alpha1\nkind: Profile\nmetadata: {name: base}\nspec:\n"
            "  boot:\n    configTxt: {arm_64bit: 1, enable_uart: 1}\n"
            "    cmdline: [\"console=serial0,115200\"]\n")
        for f in range((n + PER_FILE - 1) // PER_FILE):
            self.write_nodes(f)
        if git:
            self.run_git("init", "-q", "-b", "main")
            self.commit("nodes")

    def write(self, rel, text):
        p = os.path.join(self.path, rel)
        with open(p + ".tmp", "w") as f:
            f.write(text)
        os.rename(p + ".tmp", p)

    def write_nodes(self, f):
        out = []
        for i in range(f * PER_FILE, min((f + 1) * PER_FILE, self.n)):
            out.append("---\napiVersion: bramble/v1alpha1\nkind: Node\nmetadata: {name: node-%05u}\n"
                       "spec:\n  serial: \"%s\"\n  mac: \"dc:a6:32:%02x:%02x:%02x\"\n"
                       "  ip: 10.0.%u.%u\n  model: pi4\n  boot:\n"
                       "    configTxt: {gpu_mem: %u, dtparam: \"audio=off\"}\n"
                       % (i, serial(i), (i >> 16) & 255, (i >> 8) & 255, i & 255,
                          1 + i // 200, 10 + i % 200, self.gpu[i]))
        self.write("nodes/nodes-%04u.yaml" % f, "".join(out))

    def run_git(self, *args):
        env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost",
                   GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost")
        subprocess.run(["git", "-C", self.path] + list(args), check=True, env=env,
                       stdout=subprocess.DEVNULL)

    def commit(self, msg):
        self.run_git("add", "-A")
        self.run_git("commit", "-q", "-m", msg)

    def change(self, k, value):
        self.gpu[k] = value
        self.write_nodes(k // PER_FILE)
        if self.git:
            self.commit("node %u: gpu_mem %u" % (k, value))

    def source(self):
        return "file://" + self.path if self.git else self.path

def make_root(path):
    os.makedirs(os.path.join(path, "images"))
    subprocess.run(["sh", os.path.join(src, "scripts/make-demo-image.sh"),
                    os.path.join(path, "images/demo-os")], check=True, stdout=subprocess.DEVNULL)

def base_args(repo, root):
    return ["--source", repo.source(), "--root", root, "--set", "dhcp.testCommand="]

def rusage_run(args):
    """Run bramble; returns (wall s, user+sys s)."""
    t0 = time.perf_counter()
    p = subprocess.Popen([bramble] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit("bench: bramble %s failed (%d):\n%s" % (args[0], p.returncode, err))
    return wall, ru.ru_utime + ru.ru_stime

def git_source_works():
    d = os.path.join(scratch, "probe")
    r = Repo(d, 1, True)
    p = subprocess.run([bramble, "validate", "--source", r.source()], capture_output=True)
    return p.returncode == 0

class Daemon:
    def __init__(self, repo, root, log):
        with open(secret_file, "wb") as f:
            f.write(secret + b"\n")
        os.chmod(secret_file, 0o600)
        self.log = log
        self.p = subprocess.Popen([bramble, "run"] + base_args(repo, root) +
                                  ["--listen", "127.0.0.1:0", "--interval", "1h",
                                   "--set", "webhook.secretFile=" + secret_file],
                                  stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        procs.append(self.p)
        m = self.wait_log(r"listening on .* \(port (\d+)\)", 30)
        self.port = int(m[-1])
        self.wait_log(r"pass \(start\): applied", 1800)
        # Ready (/readyz 200) once the start pass applied and the watch is
        # armed for its seal: the first arm after a cold pass (a stat of every
        # sealed path, an inotify watch per directory) is start-up, not a
        # webhook's latency; a webhook before it waits for it (measured here).
        t = time.perf_counter()
        while self.get("/readyz") != 200:
            if time.perf_counter() - t > 600:
                sys.exit("bench: the daemon is not ready 600 s after its start pass")
            time.sleep(0.005)
        self.ready_ms = (time.perf_counter() - t) * 1000

    def get(self, path):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            c.request("GET", path)
            status = c.getresponse().status
            c.close()
            return status
        except OSError:
            return 0

    def text(self):
        with open(self.log) as f:
            return f.read()

    def wait_log(self, pattern, timeout, count=1):
        end = time.time() + timeout
        while time.time() < end:
            found = re.findall(pattern, self.text())
            if len(found) >= count:
                return found
            if self.p.poll() is not None:
                sys.exit("bench: the daemon exited:\n" + self.text())
            time.sleep(0.01)
        sys.exit("bench: timed out waiting for /%s/ in %s" % (pattern, self.log))

    def hook(self, body):
        sig = hmac.new(secret, body, hashlib.sha256).hexdigest()
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("POST", "/hooks/git", body, {"X-Hub-Signature-256": "sha256=" + sig,
                                               "Content-Type": "application/json"})
        status = c.getresponse().status
        c.close()
        return status

    def cpu_ns(self):
        """CPU time of the loop thread (the main thread runs every pass)."""
        with open("/proc/%d/task/%d/schedstat" % (self.p.pid, self.p.pid)) as f:
            return int(f.read().split()[0])

    def proc_cpu_ms(self):
        """CPU time of the process (each thread's, in ns, from schedstat), of its
        live children (the git fetch process, kept between passes) and of its
        reaped ones (in clock ticks: a fetch process ended or retired)."""
        def tasks_ns(pid):
            total = 0
            for t in os.listdir("/proc/%d/task" % pid):
                try:
                    with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                        total += int(f.read().split()[0])
                except OSError:
                    pass
            return total
        ns = tasks_ns(self.p.pid)
        try:
            with open("/proc/%d/task/%d/children" % (self.p.pid, self.p.pid)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        for k in kids:
            try:
                ns += tasks_ns(k)
            except OSError:
                pass
        with open("/proc/%d/stat" % self.p.pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        reaped = (int(v[13]) + int(v[14])) * 1000.0 / os.sysconf("SC_CLK_TCK")
        return ns / 1e6 + reaped

    def rss_kb(self, key="VmRSS"):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(60)

def served(root, k):
    try:
        with open(os.path.join(root, "tftp", serial(k), "config.txt")) as f:
            return f.read()
    except OSError:
        return ""

def pct(v, p):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]

def latency(git):
    n = latency_nodes
    repo = Repo(os.path.join(scratch, "lat-repo"), n, git)
    root = os.path.join(scratch, "lat-out")
    make_root(root)
    d = Daemon(repo, root, os.path.join(scratch, "lat.log"))
    lat, commit, cpu = [], [], []
    for i in range(rounds):
        k = (n * (i + 1)) // (rounds + 1)
        value = 64 + i
        t_edit = time.perf_counter()
        repo.change(k, value)
        c0 = d.proc_cpu_ms()
        t0 = time.perf_counter()
        commit.append(t0 - t_edit)
        if d.hook(b'{"ref":"refs/heads/main","round":%d}' % i) != 202:
            sys.exit("bench: the webhook was refused")
        want = "gpu_mem=%u" % value
        while want not in served(root, k):
            if time.perf_counter() - t0 > 30:
                sys.exit("bench: node %u not applied after 30 s" % k)
            time.sleep(0.0005)
        lat.append(time.perf_counter() - t0)
        d.wait_log(r"pass \(webhook\)", 30, i + 1)
        time.sleep(0.3)  # the watch is armed after the log line
        cpu.append(d.proc_cpu_ms() - c0)
    noop = []
    for i in range(5):
        c0 = d.proc_cpu_ms()
        d.p.send_signal(signal.SIGHUP)
        d.wait_log(r"pass \(SIGHUP\)", 600, i + 1)
        noop.append(d.proc_cpu_ms() - c0)
    passes = [float(x) for x in re.findall(r"pass \(webhook\): applied .*; ([0-9.]+) s \(fetch", d.text())]
    rss = d.rss_kb()
    d.stop()
    ms = [x * 1000 for x in lat]
    med = statistics.median(ms)
    print("webhook to applied, one-node change, %u nodes, %u rounds (%s source):"
          % (n, rounds, "git file://" if git else "directory"))
    ok = med <= 150 and pct(ms, 90) <= 200 and max(ms) <= 400
    print("  median %.1f ms, p90 %.1f ms, worst %.1f ms, best %.1f ms  "
          "[target median <= 150, p90 <= 200, worst <= 400 ms: %s]"
          % (med, pct(ms, 90), max(ms), min(ms), "PASS" if ok else "MISS"))
    print("  every round (ms): %s" % " ".join("%.0f" % x for x in ms))
    print("  ready after the start pass's log line (the first arm of the watch): %.0f ms"
          % d.ready_ms)
    if passes:
        print("  the daemon's pass itself: median %.1f ms (from its log lines)"
              % (statistics.median(passes) * 1000))
    print("  CPU of the daemon and its fetch processes per webhook pass: median %.0f ms; "
          "per no-op pass (SIGHUP): median %.0f ms (of 5); RSS after: %.1f MB"
          % (statistics.median(cpu), statistics.median(noop), rss / 1024))
    if git:
        print("  git add + commit before each webhook: median %.1f ms (not counted above)"
              % (statistics.median(commit) * 1000))

def rss_loop(git):
    """RSS of the daemon over many passes: a change by webhook, then a no-op (SIGHUP), and so on."""
    n = int(os.environ.get("BENCH_RSS_NODES", "1000"))
    passes = int(os.environ.get("BENCH_RSS_PASSES", "100"))
    repo = Repo(os.path.join(scratch, "rss-repo"), n, git)
    root = os.path.join(scratch, "rss-out")
    make_root(root)
    d = Daemon(repo, root, os.path.join(scratch, "rss.log"))
    samples, hooks, hups = [(0, d.rss_kb())], 0, 0
    # The start's cold pass apart from the passes after it: its peak, then the
    # peak is reset (clear_refs 5, Linux >= 4.0) so VmHWM at the end is the
    # highest of the passes alone.
    start_peak = d.rss_kb("VmHWM")
    try:
        with open("/proc/%d/clear_refs" % d.p.pid, "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    for i in range(1, passes + 1):
        if i % 2:
            repo.change((i * 7919) % n, 64 + i % 100)
            hooks += 1
            d.hook(b'{"ref":"refs/heads/main","rss":%d}' % i)
            d.wait_log(r"pass \(webhook\)", 600, hooks)
        else:
            hups += 1
            d.p.send_signal(signal.SIGHUP)
            d.wait_log(r"pass \(SIGHUP\)", 600, hups)
        if i % 10 == 0:
            time.sleep(0.3)  # the pass ends after its log line (the watch's re-arm)
            samples.append((i, d.rss_kb()))
    peak = d.rss_kb("VmHWM")
    d.stop()
    print("daemon RSS over %u passes at %u nodes (a change by webhook, then a no-op), MB:" % (passes, n))
    print("  " + ", ".join("%u: %.1f" % (k, v / 1024) for k, v in samples))
    print("  growth from pass 10 to pass %u: %+.1f MB  [target: peak <= 64 MB, no growth]"
          % (passes, (samples[-1][1] - samples[1][1]) / 1024 if len(samples) > 1 else 0))
    print("  peak RSS of the start (VmHWM, its cold pass and first arm): %.1f MB" % (start_peak / 1024))
    if reset:
        print("  peak RSS inside the %u passes after it (VmHWM reset after the start): %.1f MB"
              % (passes, peak / 1024))
    else:
        print("  peak RSS inside a pass (VmHWM, start pass included): %.1f MB" % (max(peak, start_peak) / 1024))

def steady(n, git):
    repo = Repo(os.path.join(scratch, "repo-%u" % n), n, git)
    root = os.path.join(scratch, "out-%u" % n)
    make_root(root)
    args = ["apply"] + base_args(repo, root)
    cold_wall, cold_cpu = rusage_run(args)
    runs = [rusage_run(args) for _ in range(5)]
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    print("steady-state pass, %u nodes:" % n)
    print("  cold apply (for reference): %.2f s wall, %.2f s CPU" % (cold_wall, cold_cpu))
    print("  bramble apply, nothing to change: %.1f ms CPU (user+sys), %.1f ms wall (median of 5)"
          % (cpu * 1000, wall * 1000))
    d = Daemon(repo, root, os.path.join(scratch, "steady-%u.log" % n))
    cpu_d, wall_d = [], []
    for i in range(5):
        c0, t0 = d.cpu_ns(), time.perf_counter()
        d.p.send_signal(signal.SIGHUP)
        d.wait_log(r"pass \(SIGHUP\): applied", 600, i + 1)
        wall_d.append(time.perf_counter() - t0)
        cpu_d.append((d.cpu_ns() - c0) / 1e6)
    d.stop()
    print("  in the daemon (SIGHUP), nothing to change: %.1f ms CPU, %.1f ms wall (median of 5)"
          % (statistics.median(cpu_d), statistics.median(wall_d) * 1000))

secret_file = os.path.join(scratch, "secret")
try:
    git = git_source_works()
    if not git:
        print("note: this bramble cannot read a file:// git repository yet; the source is a "
              "plain directory")
    print("bramble: %s; %u CPUs; scratch %s" % (bramble, os.cpu_count(), scratch))
    latency(git)
    if int(os.environ.get("BENCH_RSS_PASSES", "100")) > 0:
        rss_loop(git)
    for n in sizes:
        steady(n, git)
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
PY
