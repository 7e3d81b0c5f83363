#!/usr/bin/python3
"""Compares the server's modes under the same workloads, on this machine, in
one invocation: every mode runs every load level, repeated and interleaved,
each run against a freshly started server. Writes raw results (JSON), a
Markdown table and PNG plots of p99 latency against offered load.

Run it through bench/compare/run, which builds what it needs first.
"""

import argparse
import collections
import datetime
import json
import os
import re
import resource
import shlex
import signal
import subprocess
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The CPUs this process may run on as it starts, before pin_client() moves
# it to the client's: a side that is not pinned may run on any of them.
ALL_CPUS = frozenset(os.sched_getaffinity(0))
PAGE = os.sysconf("SC_PAGE_SIZE")


def spin(us):
    return {"spin": {"micros": us}}


def sleep(us):
    return {"sleep": {"micros": us}}


# name -> (description, request messages sent round-robin, needs downstream)
WORKLOADS = {
    "W1": ("99% spin 20 us, 1% block 5 ms (the tail killer)",
           [{"steps": [spin(20)]}] * 99 + [{"steps": [sleep(5000)]}], False),
    "W2": ("spin 50 us, then block 1 ms on a downstream call",
           [{"steps": [spin(50), {"downstream": {"sleep_micros": 1000}}]}],
           True),
    "W3": ("pure CPU: spin 50 us", [{"steps": [spin(50)]}], False),
    "W4": ("overload: W3 at 1.5x saturation, then 0.5x (recovery)",
           [{"steps": [spin(50)]}], False),
    "W5": ("fan-in: 10,000 calls at once, each blocked 1 s", None, False),
}


# W5 only: the thread pool with a thread per call (see fan_in()).
W5_THREAD_PER_CALL = "threadpool-10000"

# The threadpool mode's handler threads in every workload but W5's
# thread-per-call reference. On this 2-CPU host 256 beat 1024 by 13-17 %
# in W2's closed loop (fewer threads, less CPU per call).
THREADPOOL_THREADS = 256


class Mode:
    def __init__(self, name, args, extra=False):
        self.name = name
        self.args = args
        # From --extra-mode: measured and tabled like the others, but not
        # the reference that sets the offered loads unless --reference-mode
        # names it.
        self.extra = extra


def parse_extra_mode(text):
    """--extra-mode NAME=FLAGS: a Mode running the server with FLAGS
    (space-separated), to set a server setting beside the stock modes in one
    run."""
    name, sep, flags = text.partition("=")
    if not sep or not name or not flags.split():
        sys.exit("compare: --extra-mode wants NAME=FLAGS, e.g. "
                 "'umcg-fallback-nice10=--mode=umcg --backend=fallback --cq-nice=10'; "
                 "got %r" % text)
    match = re.fullmatch(r"(epoll|threadpool|umcg)-[A-Za-z0-9_.+-]+", name)
    if not match:
        sys.exit("compare: --extra-mode name %r must start with epoll-, threadpool- or "
                 "umcg-, the --mode its flags give" % name)
    if name == W5_THREAD_PER_CALL:
        sys.exit("compare: --extra-mode name %r is W5's own mode" % name)
    args = flags.split()
    if "--mode=" + match.group(1) not in args:
        sys.exit("compare: --extra-mode %s: its flags must include --mode=%s "
                 "(got %r)" % (name, match.group(1), flags))
    return Mode(name, args, extra=True)


def available_modes(server, wanted, extra=()):
    help_text = subprocess.run([server, "--help"], capture_output=True,
                               text=True).stdout
    modes = [Mode("epoll", ["--mode=epoll"]),
             Mode("threadpool", ["--mode=threadpool",
                                 "--threads=%d" % THREADPOOL_THREADS])]
    if "--backend" in help_text:
        modes.append(Mode("umcg-fallback", ["--mode=umcg", "--backend=fallback"]))
        if os.path.exists("/sys/kernel/umcg"):
            modes.append(Mode("umcg-kernel", ["--mode=umcg", "--backend=kernel"]))
    else:
        log("note: this server has no --mode=umcg yet; comparing the baselines")
    for mode in extra:
        if mode.name.startswith("umcg-") and "--backend" not in help_text:
            sys.exit("compare: --extra-mode %s: this server has no umcg mode" % mode.name)
        if any(m.name == mode.name for m in modes):
            sys.exit("compare: --extra-mode %s: a mode of that name exists" % mode.name)
        modes.append(mode)
    if wanted:
        names = wanted.split(",")
        unknown = set(names) - {m.name for m in modes}
        if unknown:
            sys.exit("compare: modes not available here: " + ",".join(sorted(unknown)))
        # Extra modes are always run: asking for one and leaving it out of
        # --modes is surely a slip.
        modes = [m for m in modes if m.name in names or m.extra]
    return modes


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def parse_cpus(text, flag):
    """A CPU list such as "1" or "0,2-3" as a set, checked against the CPUs
    this process may run on; None for an empty list (no pinning)."""
    if not text:
        return None
    cpus = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        sys.exit("compare: %s: not a CPU list: %r (want e.g. 1 or 0,2-3)" % (flag, text))
    allowed = os.sched_getaffinity(0)
    if not cpus <= allowed:
        sys.exit("compare: %s: CPUs %s are not available here (allowed: %s)" % (
            flag, ",".join(map(str, sorted(cpus - allowed))),
            ",".join(map(str, sorted(allowed)))))
    return cpus


def pin_client(server_text, client_text):
    """Parses --server-cpus and --client-cpus and moves this process (which
    counts as client) to the client's CPUs. Returns (server_cpus,
    client_cpus); with only the client pinned, the server's are every CPU
    this process had, not the client's ones its children would inherit."""
    server = parse_cpus(server_text, "--server-cpus")
    client = parse_cpus(client_text, "--client-cpus")
    if client is not None:
        if server is None:
            server = os.sched_getaffinity(0)
        os.sched_setaffinity(0, client)
    return server, client


def pinned(cpus):
    """A preexec_fn that confines a child process to `cpus` (None: no-op)."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def runnable_threads(pid):
    """How many of the process's threads are runnable (state R) right now."""
    count = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid), "rb") as f:
                # The state follows the command name, which may hold spaces.
                if f.read().rsplit(b")", 1)[1][1:2] == b"R":
                    count += 1
        except OSError:
            pass  # The thread exited between the listing and the read.
    return count


# A server's resource use at one instant (Server.usage()).
Usage = collections.namedtuple("Usage", "cpu_s rss_mib switches sched when")


def runnable_between(before, after):
    """Mean number of the server's threads runnable (running or waiting on
    a run queue) between two usages, and of those waiting, from schedstat.
    Threads that exited in between are missing, so this is a lower bound
    where threads come and go (umcg workers), exact for a fixed pool."""
    if before.sched is None or after.sched is None:
        return None, None  # No schedstat (e.g. a kernel without SCHED_INFO).
    wall_ns = (after.when - before.when) * 1e9
    run = wait = 0
    for tid, (r, w) in after.sched.items():
        r0, w0 = before.sched.get(tid, (0, 0))
        run += r - r0
        wait += w - w0
    return (run + wait) / wall_ns, wait / wall_ns


def cpu_jiffies(*cpu_sets):
    """For each set of CPUs, its (busy, total) jiffies since boot, from one
    read of /proc/stat. Idle and iowait count as not busy; steal (time the
    hypervisor ran something else) is left out of both."""
    sums = [[0, 0] for _ in cpu_sets]
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if not name.startswith("cpu"):
                break
            if name == "cpu":
                continue
            user, nice, system, idle, iowait, irq, softirq = map(int, fields[:7])
            busy = user + nice + system + irq + softirq
            for cpus, acc in zip(cpu_sets, sums):
                if int(name[3:]) in cpus:
                    acc[0] += busy
                    acc[1] += busy + idle + iowait
    return [tuple(acc) for acc in sums]


def children_cpu_s():
    """CPU seconds of this process's children that were waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Where the CPU went while one load generator ran: CPU time per call of
    the server, of the downstream service (None: not metered) and of the load
    generator, and how busy the server's and the client's CPUs were: the
    CPUs each may run on, which for a side not pinned are all of those this
    process was started with (both the same set when nothing is pinned).
    Made just before the load generator starts; split() just after it was
    waited for, before any other child is, since the load generator's CPU
    comes from RUSAGE_CHILDREN."""

    def __init__(self, server, downstream, server_cpus, client_cpus):
        self.server, self.downstream = server, downstream
        self.pinned = server_cpus is not None or client_cpus is not None
        self.server_cpus = server_cpus if server_cpus is not None else ALL_CPUS
        self.client_cpus = client_cpus if client_cpus is not None else ALL_CPUS
        self.start = self._read()

    def _read(self):
        return (self.server.cpu_s(),
                self.downstream.cpu_s() if self.downstream else 0.0,
                children_cpu_s(), *cpu_jiffies(self.server_cpus, self.client_cpus))

    def split(self, calls):
        """The figures since the meter was made, per call of `calls` (every
        call the load generator completed, its warm-up's too, as the CPU
        times cover the warm-up as well)."""
        end = self._read()
        n = max(calls, 1)

        def per_call(i):
            return (end[i] - self.start[i]) * 1e6 / n

        def busy(i):
            b = end[i][0] - self.start[i][0]
            t = end[i][1] - self.start[i][1]
            return b / t if t else None

        return {"calls": calls, "pinned": self.pinned,
                "server_us": per_call(0),
                "downstream_us": per_call(1) if self.downstream else None,
                "client_us": per_call(2),
                "server_cpus_busy": busy(3), "client_cpus_busy": busy(4)}


class Server:
    """A server process, with its peak threads/RSS sampled while it runs.

    With sample_runnable, the sampler also counts the server's runnable
    threads (state R) every 50 ms: a sampled peak, a lower bound on the true
    one. Walking every thread that often takes CPU from the load generator
    (it raised the thread pool's W1 p90 from 0.6 to 4.3 ms with the client
    on one CPU), so only probe runs, whose latency is not reported, do it.
    """

    def __init__(self, binary, args, cpus=None, sample_runnable=False):
        self.proc = subprocess.Popen(
            [binary, "--listen=127.0.0.1:0"] + args,
            stderr=subprocess.PIPE, text=True, preexec_fn=pinned(cpus))
        self.log_lines = []
        self.port = None
        self.runtime = {}  # The runtime's metrics line, parsed at stop().
        for line in self.proc.stderr:
            self.log_lines.append(line)
            m = re.search(r'msg="server started".* port=(\d+)', line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            # Reaped here, so that its CPU time does not land in a later
            # CpuMeter's RUSAGE_CHILDREN.
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("server did not start:\n" + "".join(self.log_lines))
        threading.Thread(target=self._drain, daemon=True).start()
        self.sample_runnable = sample_runnable
        self.reset_peaks()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log_lines.append(line)

    def reset_peaks(self):
        """Starts the sampled peaks (threads, runnable threads) afresh."""
        self.peak_threads = 0
        self.peak_runnable = 0
        self.runnable_samples = []

    def _sample(self):
        while not self._stop.wait(0.05):
            try:
                with open("/proc/%d/status" % self.proc.pid) as f:
                    m = re.search(r"Threads:\s+(\d+)", f.read())
                threads = int(m.group(1))
                self.peak_threads = max(self.peak_threads, threads)
                if self.sample_runnable:
                    n = runnable_threads(self.proc.pid)
                    self.runnable_samples.append(n)
                    self.peak_runnable = max(self.peak_runnable, n)
            except OSError:
                return

    def mean_runnable(self):
        """The mean of the runnable-thread samples since reset_peaks()."""
        xs = self.runnable_samples
        return sum(xs) / len(xs) if xs else 0.0

    def address(self):
        return "127.0.0.1:%d" % self.port

    def cpu_s(self):
        """CPU seconds so far (cheap: one file, not one per thread)."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def usage(self):
        """CPU seconds, peak RSS (MiB), context switches so far, and each
        live thread's (run, run-queue wait) nanoseconds from schedstat."""
        pid = self.proc.pid
        cpu = self.cpu_s()
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        rss = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
        switches = 0
        # None when this kernel has no schedstat files (CONFIG_SCHED_INFO).
        sched = {} if os.path.exists("/proc/%d/schedstat" % pid) else None
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                    for k, v in re.findall(r"(\w+_ctxt_switches):\s+(\d+)", f.read()):
                        switches += int(v)
                if sched is not None:
                    with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                        run, wait = f.read().split()[:2]
                    sched[tid] = (int(run), int(wait))
            except OSError:
                pass  # The thread exited between the listing and the read.
        return Usage(cpu, rss, switches, sched, time.monotonic())

    def stop(self):
        self._stop.set()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            # While a stop takes long the server logs its state (umcg mode:
            # the scheduler's, a line per worker): keep the first report.
            lines = self.log_lines
            first = next((i for i, l in enumerate(lines) if "still stopping" in l), None)
            kept = lines[first:first + 200] if first is not None else lines[-60:]
            raise RuntimeError("server did not stop within 60 s; its log from the first "
                               "state report (or its last lines):\n" + "".join(kept))
        if code != 0:
            raise RuntimeError("server exited %d:\n%s" % (code, "".join(self.log_lines[-20:])))
        self.runtime = {}
        for line in self.log_lines:
            m = re.search(r'msg="runtime metrics" metrics="([^"]*)"', line)
            if m:
                self.runtime = dict(re.findall(r"(\w+)=(\d+)", m.group(1)))


class Harness:
    def __init__(self, opts):
        self.opts = opts
        self.results = {"saturation": {}, "runs": [], "failures": []}
        build = opts.build
        self.server_bin = os.path.join(build, "server/umcg-rpc-server")
        self.loadgen_bin = os.path.join(build, "bench/loadgen/umcg-rpc-loadgen")
        self.burst_bin = os.path.join(build, "bench/burst/umcg-rpc-burst")
        for b in (self.server_bin, self.loadgen_bin, self.burst_bin):
            if not os.access(b, os.X_OK):
                sys.exit("compare: %s is missing; build it first (bench/compare/run does)" % b)
        self.modes = available_modes(self.server_bin, opts.modes,
                                     [parse_extra_mode(t) for t in opts.extra_mode])
        if opts.reference_mode and opts.reference_mode not in {m.name for m in self.modes}:
            sys.exit("compare: --reference-mode %s is not among the modes run (%s)"
                     % (opts.reference_mode, ",".join(m.name for m in self.modes)))
        self.downstream = None
        # The harness (and its sampler thread) counts as client.
        self.server_cpus, self.client_cpus = pin_client(opts.server_cpus,
                                                        opts.client_cpus)

    def start_server(self, mode, workload, sample_runnable=False):
        args = list(mode.args) + self.common_server_args()
        if workload == "W4":
            # An in-flight limit below the load generator's 256 outstanding
            # calls, so overload is shed with RESOURCE_EXHAUSTED instead of
            # queueing (a limit of 256 was never reached).
            args.append("--max-inflight=64")
        if WORKLOADS[workload][2]:
            args.append("--downstream=" + self.downstream.address())
        return Server(self.server_bin, args, cpus=self.server_cpus,
                      sample_runnable=sample_runnable)

    def common_server_args(self):
        """Flags every server of the run gets, the downstream service too."""
        # gRPC's default health service runs on a callback queue whose two
        # threads also poll the connections; that took 30-40 % of the epoll
        # mode's W3 throughput on one CPU (docs/server.md), so by default
        # the comparison measures the RPC path without it.
        return ["--health-service=%s" % ("true" if self.opts.with_health_service else "false")]

    def loadgen(self, server, workload, data, rate, duration, concurrency=256):
        """Runs the load generator against `server`; returns its report and
        the CpuMeter's split of the run (the downstream service metered when
        the workload calls it)."""
        cmd = [self.loadgen_bin, "-q", "--target", server.address(),
               "--call", "umcgrpc.v1.Workload/Run", "-d", json.dumps(data),
               "--rate", str(rate), "-z", duration, "--warmup", self.opts.warmup,
               "-c", str(concurrency), "--connections", str(self.opts.connections),
               "-t", "10s"]
        meter = CpuMeter(server, self.downstream if WORKLOADS[workload][2] else None,
                         self.server_cpus, self.client_cpus)
        out = subprocess.run(cmd, capture_output=True, text=True,
                             preexec_fn=pinned(self.client_cpus))
        if out.returncode != 0:
            raise RuntimeError("loadgen failed: " + out.stderr)
        report = json.loads(out.stdout)
        return report, meter.split(report["callsIncludingWarmup"])

    def measured_run(self, mode, workload, rate, duration=None, data=None, server=None,
                     probe=False):
        """One open-loop run; against a fresh server unless `server` is given.
        A probe run samples the server's runnable threads (which perturbs the
        client, so its latency is kept apart from the measured runs')."""
        own = server is None
        if own:
            server = self.start_server(mode, workload, sample_runnable=probe)
        try:
            server.reset_peaks()
            u0 = server.usage()
            report, cpu = self.loadgen(server, workload, data or WORKLOADS[workload][1],
                                       rate, duration or self.opts.duration)
            u1 = server.usage()
        finally:
            if own:
                server.stop()
        mean_runnable, mean_waiting = runnable_between(u0, u1)
        pct = {d["percentage"]: d["latency"] for d in report["latencyDistribution"]}
        codes = report["statusCodeDistribution"]
        return {
            "mode": mode.name, "workload": workload, "offered_rps": rate,
            "throughput_rps": report.get("okRps", 0.0),
            "count": report["count"], "ok": codes.get("OK", 0),
            "errors": report["count"] - codes.get("OK", 0),
            "status_codes": codes,
            "p50_us": pct.get(50, 0) / 1e3, "p90_us": pct.get(90, 0) / 1e3,
            "p99_us": pct.get(99, 0) / 1e3, "p999_us": pct.get(99.9, 0) / 1e3,
            "late_sends": report.get("lateSends", 0),
            "final_send_lag_us": report.get("finalSendLag", 0) / 1e3,
            "peak_threads": server.peak_threads, "cpu_s": u1.cpu_s - u0.cpu_s,
            "mean_runnable": mean_runnable, "mean_waiting": mean_waiting,
            "probe": probe, "peak_runnable": server.peak_runnable,
            "sampled_mean_runnable": server.mean_runnable(),
            "peak_rss_mib": u1.rss_mib, "context_switches": u1.switches - u0.switches,
            # umcg mode: the most workers RUNNING at once, and the bound.
            "max_running": int(server.runtime.get("max_running", 0)),
            "servers": int(server.runtime.get("servers", 0)),
            "cpu_split": cpu,
        }

    def saturation(self, mode, workload):
        """Closed-loop throughput with many callers: the mode's capacity,
        and the CpuMeter's split of the run."""
        server = self.start_server(mode, workload)
        try:
            report, cpu = self.loadgen(server, workload, WORKLOADS[workload][1], 0,
                                       self.opts.duration, concurrency=64)
        finally:
            server.stop()
        return report.get("okRps", 0.0), cpu

    def saturations(self, workload):
        """Each mode's saturation, the median of --saturation-repeats
        closed-loop runs, interleaved (the order reversed every other round)
        so that a drift in the host's speed touches every mode alike. The
        rounds' own figures go to results["saturation_runs"], their CPU
        splits to results["saturation_cpu"]."""
        runs = {m.name: [] for m in self.modes}
        cpus = {m.name: [] for m in self.modes}
        for rep in range(self.opts.saturation_repeats):
            order = self.modes if rep % 2 == 0 else list(reversed(self.modes))
            for m in order:
                rps, cpu = self.saturation(m, workload)
                runs[m.name].append(rps)
                cpus[m.name].append(cpu)
                log("  saturation %-14s %8.0f rps (round %d of %d); %s"
                    % (m.name, rps, rep + 1, self.opts.saturation_repeats,
                       cpu_split_text(cpu)))
        self.results["saturation_runs"][workload] = runs
        self.results["saturation_cpu"][workload] = cpus
        return {name: median(xs) for name, xs in runs.items()}

    def run(self):
        results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                   "host": os.uname().nodename, "kernel": os.uname().release,
                   "cpus": os.cpu_count(), "options": vars(self.opts),
                   "saturation": {}, "saturation_runs": {}, "saturation_cpu": {},
                   "reference": {}, "runs": [],
                   "failures": []}
        self.results = results
        # The downstream service stands for another machine: it runs on the
        # client's CPUs, not the server's.
        self.downstream = Server(self.server_bin, ["--mode=threadpool", "--threads=1024",
                                                   "--max-inflight=100000"]
                                 + self.common_server_args(),
                                 cpus=self.client_cpus)
        try:
            for w in self.opts.workloads.split(","):
                if w not in WORKLOADS:
                    sys.exit("compare: unknown workload " + w)
                log("%s: %s" % (w, WORKLOADS[w][0]))
                if w == "W5":
                    results["runs"] += self.fan_in()
                    continue
                sat = self.saturations(w)
                results["saturation"][w] = sat
                # Issue 5's reference rates: epoll's saturation for W1, W3
                # and W4, umcg's (its best backend) for W2; or the mode
                # --reference-mode names, for every workload.
                stock = {m.name for m in self.modes if not m.extra}
                if self.opts.reference_mode:
                    ref_mode = self.opts.reference_mode
                elif w == "W2":
                    umcg = [k for k in sat if k.startswith("umcg-") and k in stock]
                    ref_mode = max(umcg, key=sat.get) if umcg else None
                else:
                    ref_mode = "epoll" if "epoll" in sat else None
                if ref_mode is None:
                    log("  note: the reference mode is not among the modes; loads "
                        "are fractions of the best stock mode's saturation instead")
                    ref_mode = max(stock or sat, key=sat.get)
                ref = sat[ref_mode]
                results["reference"][w] = {"mode": ref_mode, "rps": ref}
                if ref <= 0:
                    # A rate of 0 would make the load generator a closed loop.
                    log("  %s: %s completed no call in its closed loop; no loads "
                        "to offer, workload skipped" % (w, ref_mode))
                    results["failures"].append({
                        "mode": ref_mode, "workload": w, "load_fraction": "",
                        "error": "reference saturation 0: workload skipped"})
                    continue
                if w == "W4":
                    results["runs"] += self.overload(w, ref)
                    continue
                for rep in range(self.opts.repeats):
                    for frac in self.opts.loads:
                        order = self.modes if rep % 2 == 0 else list(reversed(self.modes))
                        for m in order:
                            r = self.recorded_run(m, w, ref, frac)
                            if r is None:
                                continue
                            r.update(repeat=rep)
                            results["runs"].append(r)
                            log("  %-14s load %.2f (%6.0f rps): p99 %9.0f us, %6.0f rps ok, %d errors"
                                % (m.name, frac, r["offered_rps"], r["p99_us"],
                                   r["throughput_rps"], r["errors"]))
                if w in self.opts.probe_workloads:
                    results["runs"] += self.probe(w, ref, max(self.opts.loads))
        finally:
            self.downstream.stop()
        return results

    def recorded_run(self, mode, w, ref, frac, probe=False):
        """measured_run at `frac` of `ref`; a failure is logged and recorded
        in the results, and gives None, so the sweep goes on."""
        try:
            r = self.measured_run(mode, w, max(1.0, ref * frac), probe=probe)
        except RuntimeError as e:
            log("  %-14s %s %.2f FAILED: %s" % (mode.name, "probe" if probe else "load",
                                                  frac, e))
            self.results["failures"].append({"mode": mode.name, "workload": w,
                                             "load_fraction": frac, "error": str(e)})
            return None
        r.update(load_fraction=frac)
        return r

    def probe(self, w, ref, frac):
        """One probe run per mode at `frac` of `ref`: the peak of the server's
        runnable threads, sampled."""
        runs = []
        for m in self.modes:
            r = self.recorded_run(m, w, ref, frac, probe=True)
            if r is None:
                continue
            r.update(repeat=0)
            runs.append(r)
            log("  %-14s probe at %.2f: runnable threads peak %d, mean %.1f (sampled)"
                % (m.name, frac, r["peak_runnable"], r["sampled_mean_runnable"]))
        return runs

    def overload(self, w, saturation):
        runs = []
        for m in self.modes:
            # Both phases against one server: recovery is measured right
            # after the overload, on the server that went through it.
            server = self.start_server(m, w)
            phases = []
            try:
                for phase, frac in (("overload", 1.5), ("recovery", 0.5)):
                    r = self.measured_run(m, w, saturation * frac, server=server)
                    r.update(load_fraction=frac, phase=phase, repeat=0)
                    phases.append(r)
                    log("  %-14s %-8s p99 %9.0f us, %6.0f rps ok, %d errors (%s), rss %.0f MiB"
                        % (m.name, phase, r["p99_us"], r["throughput_rps"], r["errors"],
                           ", ".join("%s %d" % kv for kv in sorted(r["status_codes"].items())
                                     if kv[0] != "OK") or "none",
                           r["peak_rss_mib"]))
            finally:
                server.stop()
            for r in phases:  # The runtime reports its metrics at exit.
                r["max_running"] = int(server.runtime.get("max_running", 0))
                r["servers"] = int(server.runtime.get("servers", 0))
            runs += phases
        return runs

    def fan_in(self):
        runs = []
        modes = list(self.modes)
        if any(m.name == "threadpool" for m in modes):
            # A thread per call, all created at start-up: what holding
            # 10,000 blocked calls costs on this host with no scheduler and
            # no thread creation during the burst (the floor W5's wall time
            # is judged against).
            modes.append(Mode(W5_THREAD_PER_CALL, ["--mode=threadpool", "--threads=10000"]))
        for m in modes:
            server = self.start_server(m, "W5")
            try:
                out = subprocess.run(
                    [self.burst_bin, "--target", server.address(), "--calls", "10000",
                     "--connections", "16", "--sleep-us", "1000000",
                     "--timeout-s", str(self.opts.fan_in_deadline), "--by-send-order"],
                    capture_output=True, text=True, preexec_fn=pinned(self.client_cpus))
                u = server.usage()
            finally:
                server.stop()
            lines = out.stdout.splitlines()
            fields = dict(re.findall(r"(\S+)=(\S+)", lines[0] if lines else ""))
            # Per tenth of the calls in send order: did calls wait to
            # start or to finish (umcg-rpc-burst --by-send-order)?
            tenths = [dict(re.findall(r"(\S+)=(\S+)", l)) for l in lines[1:]
                      if l.startswith("tenth=")]
            r = {"mode": m.name, "workload": "W5", "wall_ms": float(fields.get("wall_ms", 0)),
                 "issue_ms": float(fields.get("issue_ms", 0)),
                 "ok": int(fields.get("status[OK]", 0)), "p50_us": float(fields.get("p50_ms", 0)) * 1e3,
                 "p99_us": float(fields.get("max_ms", 0)) * 1e3,
                 "peak_threads": server.peak_threads, "peak_rss_mib": u.rss_mib,
                 "cpu_s": u.cpu_s, "context_switches": u.switches,
                 "by_send_order": tenths, "raw": out.stdout.strip()}
            runs.append(r)
            log("  %-14s 10000 x 1 s: wall %.0f ms, %d OK, peak threads %d, rss %.0f MiB"
                % (m.name, r["wall_ms"], r["ok"], r["peak_threads"], u.rss_mib))
        return runs


def pinning_line(options):
    """Where the server and the client ran, for the table's header."""
    server, client = options.get("server_cpus"), options.get("client_cpus")
    if not server and not client:
        return ("CPUs: not pinned; the server, the load generator and the "
                "downstream service share every CPU.")
    return ("CPUs: server on %s; load generator, downstream service and "
            "harness on %s." % (server or "any", client or "any"))


def fell_behind(run):
    """Whether an open-loop run's load generator sent its calls over more
    than its window (over 100 ms behind at the end): the rate was offered
    but not taken. Older results have no final_send_lag_us."""
    return run.get("final_send_lag_us", 0) > 100e3


def median(xs):
    """The median; for an even count, the mean of the middle two (with two
    repeats, the upper one alone would report every outlier)."""
    xs = sorted(xs)
    if not xs:
        return 0
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def median_split(splits):
    """The field-by-field median of CpuMeter splits (None where a field is
    missing from any of them); None if there are none (older results)."""
    splits = [c for c in splits if c]
    if not splits:
        return None
    out = {"pinned": splits[0]["pinned"]}
    for k in ("server_us", "downstream_us", "client_us", "server_cpus_busy",
              "client_cpus_busy"):
        xs = [c.get(k) for c in splits]
        out[k] = None if None in xs else median(xs)
    return out


def cpu_split_cells(cpu):
    """Two table cells: CPU per call (server / downstream / load generator,
    us) and busy share (server's / client's CPUs, or every CPU's)."""
    if not cpu:
        return "-", "-"
    num = lambda x: "-" if x is None else "%.0f" % x
    pct = lambda x: "-" if x is None else "%.0f" % (100 * x)
    per_call = " / ".join(num(cpu[k]) for k in ("server_us", "downstream_us", "client_us"))
    busy = pct(cpu["server_cpus_busy"])
    if cpu["pinned"]:
        busy += " / " + pct(cpu["client_cpus_busy"])
    return per_call, busy


def cpu_split_text(cpu):
    """A CpuMeter split (or median_split) in words, from the table's cells."""
    if not cpu:
        return "no CPU split recorded"
    per_call, busy = cpu_split_cells(cpu)
    return ("CPU per call (us), server / downstream / load generator: %s; "
            "CPUs busy (%%)%s: %s" % (per_call,
                                     ", server's / client's" if cpu["pinned"] else "",
                                     busy))


def saturation_lines(results, w):
    """The table's saturation paragraph for workload `w`: each mode's median
    and rounds, where each mode's CPU went (CpuMeter splits), which mode's
    saturation the loads follow, and each umcg mode's ratio to the baseline (the
    better of epoll and threadpool for W2, epoll otherwise), of the medians
    and round by round."""
    sat = results["saturation"][w]
    rounds = results.get("saturation_runs", {}).get(w, {})
    n = max((len(xs) for xs in rounds.values()), default=1)

    def mode_text(name):
        xs = rounds.get(name, [])
        return "%s %.0f rps%s" % (name, sat[name], " (%s)" % ", ".join(
            "%.0f" % x for x in xs) if len(xs) > 1 else "")

    lines = ["Saturation (closed loop, 64 callers%s): %s." % (
        ", median of %d interleaved rounds" % n if n > 1 else "",
        ", ".join(mode_text(name) for name in sat)), ""]
    splits = results.get("saturation_cpu", {}).get(w, {})
    if splits:
        lines += ["Where the CPU went in those closed-loop runs (medians of the "
                  "rounds; per call of every call completed, the warm-up's too):", ""]
        lines += ["- %s: %s." % (name, cpu_split_text(median_split(splits.get(name, []))))
                  for name in sat] + [""]
    reference = results.get("reference", {}).get(w)
    if reference:
        lines += ["Offered loads: fractions of %s's saturation (%.0f rps)." % (
            reference["mode"], reference["rps"]), ""]
    baselines = [b for b in (["epoll", "threadpool"] if w == "W2" else ["epoll"])
                 if sat.get(b)]
    if not baselines:
        return lines
    ref = max(baselines, key=lambda b: sat[b])
    for name in sat:
        if not name.startswith("umcg-"):
            continue
        text = "%s / %s: %.2fx of the medians" % (name, ref, sat[name] / sat[ref])
        pairs = list(zip(rounds.get(name, []), rounds.get(ref, [])))
        if len(pairs) > 1:
            text += "; round by round %s" % ", ".join(
                "%.2fx" % (a / b) if b else "-" for a, b in pairs)
        lines += [text + ".", ""]
    return lines


def write_table(results, path):
    options = results["options"]
    cpus_pinned = bool(options.get("server_cpus") or options.get("client_cpus"))
    lines = ["# Mode comparison", "",
             "Run %s on %s (%d CPUs, kernel %s). Command: `%s`." % (
                 results["date"], results["host"], results["cpus"], results["kernel"],
                 results["command"]), "",
             "Medians over repeats. Latency from each request's intended send "
             "time (open loop). Threads, RSS: server peak; CPU: server CPU seconds. "
             "Runnable threads: the mean number of the server's threads running or "
             "waiting for a CPU, and of those waiting, over the run (schedstat; "
             "threads that exited during the run are missing, so where threads come "
             "and go it is a lower bound; - where the kernel has no schedstat).", "",
             pinning_line(results["options"]), "",
             "CPU per call: the server's, the downstream service's (where the "
             "workload calls it) and the load generator's CPU time over the run, "
             "warm-up included, divided by every call completed (warm-up and failed "
             "calls included: in W4's overload, cheap rejections lower it); CPUs busy: the "
             "share of the server's and of the client's CPUs not idle over the "
             "run (a side not pinned may use every CPU; both are every CPU when "
             "nothing is pinned), from /proc/stat.", "",
             "gRPC's health service: %s." % (
                 "on in every server" if results["options"].get("with_health_service")
                 else "off in every server (--health-service=false)"), ""]
    for w, (desc, _, _) in WORKLOADS.items():
        runs = [r for r in results["runs"] if r["workload"] == w and not r.get("probe")]
        probes = [r for r in results["runs"] if r["workload"] == w and r.get("probe")]
        if not runs:
            continue
        lines += ["## %s: %s" % (w, desc), ""]
        if w in results["saturation"]:
            lines += saturation_lines(results, w)
        if w == "W5":
            lines += ["| mode | wall (ms) | client sending (ms) | first tenth done (ms) | OK of 10000 | p50 (ms) | max (ms) | peak threads | server CPU (s) | peak RSS (MiB) |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for r in runs:
                tenths = r.get("by_send_order") or []
                first = tenths[0].get("last_done_ms") if tenths else None
                lines.append("| %s | %.0f | %s | %s | %d | %.0f | %.0f | %d | %.2f | %.0f |" % (
                    r["mode"], r["wall_ms"],
                    "%.0f" % r["issue_ms"] if r.get("issue_ms") else "-",
                    "%.0f" % float(first) if first else "-", r["ok"],
                    r["p50_us"] / 1e3, r["p99_us"] / 1e3, r["peak_threads"], r["cpu_s"],
                    r["peak_rss_mib"]))
            lines += ["", "Client sending: how long the load generator took to start all "
                      "10,000 calls (one thread); no call can finish before it is sent. "
                      "First tenth done: when the last of the first 1,000 calls sent "
                      "had finished, from the burst's start; beyond 1 s plus their "
                      "sending, the time they waited to start or to finish (raw "
                      "results: every tenth, by_send_order)."]
            if any(r["mode"] == W5_THREAD_PER_CALL for r in runs):
                lines += ["%s: the thread pool with 10,000 threads, all created at "
                          "start-up: a thread per call and no scheduler, the reference "
                          "for what blocking 10,000 calls costs on this host."
                          % W5_THREAD_PER_CALL]
            lines += [""]
            continue
        lines += ["| mode | load | offered (rps) | throughput (rps) | p50 (us) | p90 (us) | p99 (us) | p99.9 (us) | errors | peak threads | runnable threads: mean (waiting) | max running workers / servers | CPU (s) | CPU per call (us): server / downstream / load generator | CPUs busy (%%): %s | ctx switches | peak RSS (MiB) |" % (
                      "server's / client's" if cpus_pinned else "all"),
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        keys = sorted({(r.get("phase", ""), r["load_fraction"], r["mode"]) for r in runs},
                      key=lambda k: (k[1] if not k[0] else {"overload": 0, "recovery": 1}[k[0]], k[2]))
        for phase, frac, mode in keys:
            rs = [r for r in runs if r["mode"] == mode and r["load_fraction"] == frac
                  and r.get("phase", "") == phase]
            m = lambda k: median([r[k] for r in rs])
            label = phase or "%.2f" % frac
            running = ("%d / %d" % (max(r["max_running"] for r in rs), m("servers"))
                       if m("servers") else "-")
            runnable = ("%.1f (%.1f)" % (m("mean_runnable"), m("mean_waiting"))
                        if rs[0].get("mean_runnable") is not None else "-")
            per_call, busy = cpu_split_cells(median_split([r.get("cpu_split") for r in rs]))
            lines.append("| %s | %s | %.0f | %.0f%s | %.0f | %.0f | %.0f | %.0f | %d | %d | %s | %s | %.2f | %s | %s | %d | %.0f |" % (
                mode, label, m("offered_rps"), m("throughput_rps"),
                "\\*" if any(fell_behind(r) for r in rs) else "", m("p50_us"), m("p90_us"),
                m("p99_us"), m("p999_us"), m("errors"), m("peak_threads"), runnable, running,
                m("cpu_s"), per_call, busy, m("context_switches"), m("peak_rss_mib")))
        behind = [r for r in runs if fell_behind(r)]
        if behind:
            lines += ["", "\\* The load generator fell behind its schedule (it sent its "
                      "last measured call up to %.1f s late): the offered rate was not "
                      "taken, by the server or, on a shared host, by the client itself; "
                      "throughput is the rate achieved and the latencies hold the "
                      "backlog." % (max(r["final_send_lag_us"] for r in behind) / 1e6)]
        lines.append("")
        if probes:
            lines += ["Probe runs (one per mode, the server's threads in state R sampled "
                      "every 50 ms; the sampling perturbs the client, so these runs' "
                      "latencies are not in the table above):", "",
                      "| mode | load | runnable threads: sampled peak | sampled mean | "
                      "peak threads | max running workers / servers | ctx switches | p99 (us) |",
                      "|---|---|---|---|---|---|---|---|"]
            for r in probes:
                lines.append("| %s | %.2f | %d | %.1f | %d | %s | %d | %.0f |" % (
                    r["mode"], r["load_fraction"], r["peak_runnable"],
                    r["sampled_mean_runnable"], r["peak_threads"],
                    "%d / %d" % (r["max_running"], r["servers"]) if r["servers"] else "-",
                    r["context_switches"], r["p99_us"]))
            lines.append("")
    if results.get("failures"):
        lines += ["## Failed runs", ""]
        for f in results["failures"]:
            lines.append("- %s %s load %s: %s" % (
                f.get("workload", ""), f.get("mode", ""), f.get("load_fraction", ""),
                f["error"].splitlines()[0] if f["error"] else ""))
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_plots(results, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing (tools/install-deps --bench): no plots")
        return []
    written = []
    for w in WORKLOADS:
        runs = [r for r in results["runs"] if r["workload"] == w and "phase" not in r
                and "offered_rps" in r and not r.get("probe")]
        if not runs:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for mode in sorted({r["mode"] for r in runs}):
            pts = {}
            for r in runs:
                if r["mode"] == mode:
                    pts.setdefault(r["load_fraction"], []).append(r)
            xs = sorted(pts)
            ax.plot([median([r["offered_rps"] for r in pts[x]]) for x in xs],
                    [median([r["p99_us"] for r in pts[x]]) / 1e3 for x in xs],
                    marker="o", label=mode)
        ax.set_xlabel("offered load (requests/s)")
        ax.set_ylabel("p99 latency (ms)")
        ax.set_yscale("log")
        ax.set_title("%s: %s" % (w, WORKLOADS[w][0]))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        path = os.path.join(out_dir, "%s-p99.png" % w)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build/release", help="build directory with the binaries")
    p.add_argument("--out", default=None, help="results directory (default bench/compare/results/<time>)")
    p.add_argument("--modes", default="", help="comma-separated subset of modes (default: all available)")
    p.add_argument("--extra-mode", action="append", default=[], metavar="NAME=FLAGS",
                   help="one more mode: the server with these space-separated flags, "
                        "measured beside the others, e.g. 'umcg-fallback-nice10=--mode=umcg "
                        "--backend=fallback --cq-nice=10' (repeatable; NAME starts with "
                        "epoll-, threadpool- or umcg-)")
    p.add_argument("--workloads", default="W1,W2,W3,W4,W5")
    p.add_argument("--loads", default="0.3,0.5,0.7,0.9",
                   help="offered loads as fractions of the reference saturation rate "
                        "(epoll's for W1, W3 and W4; umcg's for W2; or "
                        "--reference-mode's)")
    p.add_argument("--reference-mode", default="", metavar="MODE",
                   help="the mode whose saturation --loads (and W4's 1.5x and "
                        "0.5x) are fractions of, in W1-W4 (default: epoll for W1, W3 "
                        "and W4, the best umcg backend for W2, else the best stock "
                        "mode); may be an --extra-mode, to measure a setting at "
                        "fractions of its own saturation")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--saturation-repeats", type=int, default=None, metavar="N",
                   help="closed-loop saturation runs per mode and workload, "
                        "interleaved; the median is the mode's saturation "
                        "(default 3; 1 with --quick)")
    p.add_argument("--duration", default="10s", help="measured time per run")
    p.add_argument("--warmup", default="1s")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--server-cpus", default="",
                   help="CPU list the server under test is confined to (e.g. 1); "
                        "its runtime then starts one server thread per CPU in it")
    p.add_argument("--client-cpus", default="",
                   help="CPU list for the load generator, the downstream service "
                        "and this harness (e.g. 0), so they do not take the server's CPUs")
    p.add_argument("--with-health-service", action="store_true",
                   help="keep gRPC's health service on in every server (off by default: "
                        "its callback-queue threads poll the connections too and cost "
                        "the epoll mode throughput)")
    p.add_argument("--probe-workloads", default="W2",
                   help="workloads that get one extra run per mode at the highest "
                        "load, sampling the server's runnable threads every 50 ms "
                        "(kept out of the latency figures: the sampling perturbs them); "
                        "empty for none")
    p.add_argument("--fan-in-deadline", type=int, default=10, metavar="SECONDS",
                   help="W5: each call's deadline, in whole seconds (default 10; under "
                        "software emulation the client alone may need longer than "
                        "that to send the 10,000 calls)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2 s runs, loads 0.5 and 0.9, one repeat")
    opts = p.parse_args()
    opts.loads = [float(x) for x in opts.loads.split(",")]
    opts.probe_workloads = [w for w in opts.probe_workloads.split(",") if w]
    unknown = set(opts.probe_workloads) - set(WORKLOADS) | ({"W4", "W5"} & set(opts.probe_workloads))
    if unknown:
        sys.exit("compare: --probe-workloads: no probe runs for %s (W1-W3 only)"
                 % ",".join(sorted(unknown)))
    if opts.saturation_repeats is None:
        opts.saturation_repeats = 1 if opts.quick else 3
    if opts.repeats < 1 or opts.saturation_repeats < 1:
        sys.exit("compare: --repeats and --saturation-repeats: at least 1")
    if opts.fan_in_deadline < 2:
        sys.exit("compare: --fan-in-deadline: at least 2 seconds (each call sleeps 1 s)")
    if opts.quick:
        opts.duration, opts.warmup, opts.repeats, opts.loads = "2s", "0.5s", 1, [0.5, 0.9]
    out = opts.out or os.path.join(
        "bench/compare/results", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    harness = Harness(opts)
    try:
        results = harness.run()
    except (RuntimeError, KeyboardInterrupt) as e:
        # Keep what was measured before the failure.
        log("harness stopped early: %s" % e)
        results = harness.results
        results["failures"].append({"error": "harness stopped: %s" % e})
    results["command"] = shlex.join(["bench/compare/run"] + sys.argv[1:])
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    write_table(results, os.path.join(out, "table.md"))
    plots = write_plots(results, out)
    log("wrote %s" % ", ".join([os.path.join(out, "results.json"),
                                os.path.join(out, "table.md")] + plots))
    with open(os.path.join(out, "table.md")) as f:
        print(f.read())


if __name__ == "__main__":
    main()
