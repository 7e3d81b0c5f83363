#!/usr/bin/python3
"""Regenerate kernel/patches/ from a base tree and the final files.

The series is developed as final file versions (FINAL, default
$UMCG_RPC_CACHE/kfinal) on top of a git repository holding the untouched
Debian 6.12 files (KGIT, default $UMCG_RPC_CACHE/kgit, first commit). This
script rebuilds one commit per logical change from those, with fixed dates
so that unchanged inputs give byte-identical patches (and kernel/build
cache hits), then runs `git format-patch` into kernel/patches/.

The uapi header is taken from kernel/include/uapi/linux/umcg.h, the single
source of truth; kernel/build refuses a series whose copy differs.

On a fresh machine, `mkseries.py --init` recreates KGIT (the pristine
versions of every file the series touches, from the Debian tarball) and
FINAL (the same files with the committed series applied, from the tree
`kernel/build --print-src` prepares). Then edit files in FINAL and run
mkseries.py again.
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("UMCG_RPC_CACHE", "/var/cache/umcg-rpc")
KGIT = os.environ.get("KGIT", os.path.join(CACHE, "kgit"))
FINAL = os.environ.get("FINAL", os.path.join(CACHE, "kfinal"))
OUT = os.path.join(ROOT, "kernel", "patches")
AUTHOR = "umcg-rpc kernel <kernel@umcg-rpc.invalid>"
SOB = "\n\nSigned-off-by: " + AUTHOR + "\n"


def git(*args, env=None):
    return subprocess.run(["git", "-C", KGIT] + list(args), check=True,
                          capture_output=True, text=True, env=env).stdout


def final(path):
    if path == "include/uapi/linux/umcg.h":
        return open(os.path.join(ROOT, "kernel/include/uapi/linux/umcg.h")).read()
    return open(os.path.join(FINAL, path)).read()


BASE = None


def base(path):
    return git("show", BASE + ":" + path)


def cut(text, start, end):
    i = text.index(start)
    j = text.index(end, i) if end else len(text)
    return text[:i] + text[j:]


def umcg_c(stage):
    s = final("kernel/sched/umcg.c")
    if stage < 5:  # no sysfs yet
        s = cut(s, "\n/*\n * Discovery: /sys/kernel/umcg/", None)
        s = s.replace("#include <linux/kobject.h>\n#include <linux/sysfs.h>\n", "")
        s = s.replace("#include <asm/unistd.h>\n", "")
    if stage < 4:  # no signal-driven preemption yet
        s = cut(s, "/**\n * umcg_signal_pending - ", "/**\n * umcg_handle_exit - ")
    return s


def umcg_h(stage):
    s = final("include/linux/umcg.h")
    if stage < 4:
        s = s.replace("void umcg_signal_pending(void);\n", "")
        s = s.replace("static inline void umcg_signal_pending(void) { }\n", "")
    if stage < 3:
        for decl in ("void umcg_sched_sleeping(struct task_struct *tsk);\n",
                     "void umcg_sched_running(struct task_struct *tsk);\n",
                     "void umcg_notify_resume(void);\n",
                     "void umcg_handle_exit(void);\n",
                     "static inline void umcg_sched_sleeping(struct task_struct *tsk) { }\n",
                     "static inline void umcg_sched_running(struct task_struct *tsk) { }\n",
                     "static inline void umcg_notify_resume(void) { }\n",
                     "static inline void umcg_handle_exit(void) { }\n"):
            s = s.replace(decl, "")
        s = s.replace("#ifdef CONFIG_UMCG\n\n\n", "#ifdef CONFIG_UMCG\n\n")
        s = s.replace("#else /* CONFIG_UMCG */\n\n\n", "#else /* CONFIG_UMCG */\n\n")
    return s


def maintainers(stage):
    s = final("MAINTAINERS")
    drop = {1: ["include/linux/umcg.h", "kernel/sched/umcg.c", "Documentation/userspace-api/umcg.rst"],
            2: ["kernel/sched/umcg.c", "Documentation/userspace-api/umcg.rst"],
            3: ["Documentation/userspace-api/umcg.rst"]}.get(stage, [])
    for path in drop:
        s = s.replace("F:\t" + path + "\n", "", 1)
    return s


def core_c(stage):
    if stage >= 3:
        return final("kernel/sched/core.c")
    s = base("kernel/sched/core.c")
    f = final("kernel/sched/core.c")
    inc = "#include <linux/syscalls.h>\n#include <linux/umcg.h>\n"
    assert inc in f
    s = s.replace("#include <linux/syscalls.h>\n", inc, 1)
    old = "static void __sched_fork(unsigned long clone_flags, struct task_struct *p)\n{\n\tp->on_rq\t\t\t= 0;\n"
    new = old + "\n\t/* A child, thread or process, never inherits a UMCG registration. */\n\tumcg_fork(p);\n"
    assert new in f
    return s.replace(old, new, 1)


COMMITS = [
    ("sched/umcg: add the UMCG user-space ABI header",
     """Add include/uapi/linux/umcg.h, the structure and constants shared by the
kernel and user space for User Managed Concurrency Groups:

 - struct umcg_task, 64-byte aligned, one per registered thread: a 64-bit
   state word (state, LOCKED/PREEMPTED flags and a timestamp the kernel
   advances on every change, so user space can detect ABA races),
   next_tid, server_tid, the idle-worker list head pointer, the
   idle-server tid slot pointer and the idle-list link. Every field says
   who writes it and when.
 - The idle-list protocol with named values for the list end and for the
   "link not written yet" marker (UMCG_IDLE_NODE_PENDING), which the
   review of v0.5 asked about (an unexplained 1ULL).
 - The umcg_ctl()/umcg_wait() flags and errors.
 - The sysfs discovery paths: the syscall numbers used here are not
   reserved upstream, so user space must read them, never guess them.

The header is valid C and C++ and uses only <linux/types.h>.""",
     {"include/uapi/linux/umcg.h": lambda: final("include/uapi/linux/umcg.h"),
      "MAINTAINERS": lambda: maintainers(1)}),

    ("sched/umcg: per-task UMCG state, cleared on fork and execve",
     """Add CONFIG_UMCG, the task_struct fields UMCG needs (->umcg_task, the
registered user pointer, and ->umcg_kflags, kernel-private bits) and the
PF_UMCG_WORKER task flag, taking the free PF 0x01000000 bit.

A new thread or process must never inherit a registration: clear all
three in __sched_fork(). The review of v0.5 pointed out that execve()
must clear them too, as the user pointer is meaningless in the new
address space: do it in bprm_execve() next to rseq_execve(), while
->in_execve is still set. The UMCG scheduler hook (next patches) ignores
a task with ->in_execve set, so the stale pointer is never dereferenced
in the new mm during the exec either, and a failed exec keeps a valid
registration.

->umcg_task is read by other threads of the group (to wake a server),
so every write uses WRITE_ONCE() to pair with their READ_ONCE().""",
     {"init/Kconfig": lambda: final("init/Kconfig"),
      "include/linux/sched.h": lambda: final("include/linux/sched.h"),
      "include/linux/umcg.h": lambda: umcg_h(2),
      "MAINTAINERS": lambda: maintainers(2),
      "kernel/sched/core.c": lambda: core_c(2),
      "fs/exec.c": lambda: final("fs/exec.c")}),

    ("sched/umcg: add umcg_ctl() and umcg_wait() with block detection",
     """Add the two UMCG system calls (x86_64 only, numbers 463 and 464) and the
scheduler integration.

umcg_ctl() registers the calling thread as a server or a worker, or
unregisters it. umcg_wait() switches the CPU to next_tid and waits to be
run again, with an absolute CLOCK_MONOTONIC timeout, or only wakes
next_tid. A registering worker queues itself on the idle list and waits
for a server.

Blocking: sched_submit_work() calls umcg_sched_sleeping() for a worker
about to sleep. It marks the worker BLOCKED and wakes its server on this
CPU (WF_CURRENT_CPU), with page faults disabled and nothing that sleeps,
as required by the LD_WAIT_CONFIG map there. sched_update_worker() only
sets TIF_NOTIFY_RESUME. All the waiting (BLOCKED -> IDLE, push on the idle
list, wake an idle server, wait to be run) happens in
resume_user_mode_work(), where no kernel lock is held. This closes the
main point of the v0.5 review: a scheduler callback must never park a
task at user space's whim, because the task may hold a mutex (a pipe's,
the mmap lock) that other processes need; preemption likewise only takes
effect at return to user mode.

Review points closed here as well:
 - Every tid from user space goes through umcg_find_task(), which checks
   ->group_leader against the caller's after find_task_by_vpid(): a tid
   of another process, or one recycled by another process, is ESRCH (or
   ignored in the idle-server slot) and never leads to another process's
   memory.
 - ->umcg_task of another thread is read with READ_ONCE(), pairing with
   the WRITE_ONCE()s of its owner.
 - Every barrier names the accesses it orders and its pairing side.
 - The idle-list marker is UMCG_IDLE_NODE_PENDING, documented in the
   uapi header.
 - Bad input gets an errno. Only a worker whose state word user space
   corrupted, found at return to user mode, is killed, with a
   rate-limited message; the scheduler hooks never kill or WARN.

An exiting worker that its server still thinks RUNNING is marked BLOCKED
and wakes the server, so servers never wait for a dead worker.""",
     {"kernel/sched/umcg.c": lambda: umcg_c(3),
      "include/linux/umcg.h": lambda: umcg_h(3),
      "kernel/sched/core.c": lambda: core_c(3),
      "kernel/sched/Makefile": lambda: final("kernel/sched/Makefile"),
      "include/linux/syscalls.h": lambda: final("include/linux/syscalls.h"),
      "kernel/sys_ni.c": lambda: final("kernel/sys_ni.c"),
      "arch/x86/entry/syscalls/syscall_64.tbl": lambda: final("arch/x86/entry/syscalls/syscall_64.tbl"),
      "include/linux/resume_user_mode.h": lambda: final("include/linux/resume_user_mode.h"),
      "kernel/exit.c": lambda: final("kernel/exit.c"),
      "MAINTAINERS": lambda: maintainers(3)}),

    ("sched/umcg: preempt workers at return to user mode after a signal",
     """User space preempts a RUNNING worker by setting UMCG_TF_PREEMPTED in its
state and sending it a signal. Make the signal path of
exit_to_user_mode_loop() set TIF_NOTIFY_RESUME for UMCG workers, so that
umcg_notify_resume() sees the flag on this very return to user mode: the
worker becomes IDLE, is pushed onto the idle list, wakes its server on
this CPU and waits to be run; its signal handler runs when a server runs
it again.

v0.5 disabled interrupts around its sleeping hook because "a signal
during the execution of this function might be causing issues". The
race was real: a signal (or any wake-up) can arrive after the hook
marked the worker BLOCKED and woke the server but before __schedule()
sleeps, so the worker never blocks, and v0.5's running hook then waited
in the scheduler with a signal pending. Here nothing waits in the
hooks: the sleeping hook only changes RUNNING (or RUNNING|PREEMPTED) to
BLOCKED with a compare-and-swap, so a concurrent PREEMPTED request is
either folded into the block or seen later, and a worker that did not
actually sleep goes through the same return-to-user path as one that did.
No interrupt disabling is needed.""",
     {"kernel/entry/common.c": lambda: final("kernel/entry/common.c"),
      "kernel/sched/umcg.c": lambda: umcg_c(4),
      "include/linux/umcg.h": lambda: umcg_h(4)}),

    ("sched/umcg: publish the ABI version and syscall numbers in sysfs",
     """The UMCG syscall numbers are not reserved upstream; on newer stock
kernels the same numbers are other system calls. Publish them and the
ABI version under /sys/kernel/umcg/ so user space never has to guess:

  /sys/kernel/umcg/abi_version
  /sys/kernel/umcg/nr_umcg_ctl
  /sys/kernel/umcg/nr_umcg_wait""",
     {"kernel/sched/umcg.c": lambda: umcg_c(5)}),

    ("Documentation: userspace-api: document UMCG",
     """Describe UMCG for user space: discovery, the state machine and who
writes which field when, where the kernel does what (nothing waits in the
scheduler hooks), preemption, the idle-worker list and idle-server
protocols, the system calls, lifetime rules, and a worked example.""",
     {"Documentation/userspace-api/umcg.rst": lambda: final("Documentation/userspace-api/umcg.rst"),
      "MAINTAINERS": lambda: maintainers(6),
      "Documentation/userspace-api/index.rst": lambda: final("Documentation/userspace-api/index.rst")}),
]

def init():
    src = subprocess.run([os.path.join(ROOT, "kernel", "build"), "--print-src", "--quiet"],
                         check=True, capture_output=True, text=True).stdout.split()[-1]
    files = set()
    for name in open(os.path.join(OUT, "series")):
        name = name.split("#")[0].strip()
        if not name:
            continue
        for line in open(os.path.join(OUT, name)):
            if line.startswith("+++ b/") or line.startswith("--- a/"):
                files.add(line[6:].split()[0])
    if os.path.exists(KGIT) or os.path.exists(FINAL):
        sys.exit("mkseries: %s or %s exists; remove them first" % (KGIT, FINAL))
    os.makedirs(KGIT)
    tarball = "/usr/src/linux-source-6.12.tar.xz"
    names = ["linux-source-6.12/" + f for f in sorted(files)]
    listed = set(subprocess.run(["tar", "-tf", tarball] + names, capture_output=True,
                                text=True).stdout.split())
    subprocess.run(["tar", "-xf", tarball, "-C", KGIT, "--strip-components=1"] +
                   sorted(listed), check=True)
    subprocess.run(["git", "init", "-q", KGIT], check=True)
    git("add", "-A")
    subprocess.run(["git", "-C", KGIT, "-c", "user.name=umcg-rpc kernel",
                    "-c", "user.email=kernel@umcg-rpc.invalid", "commit", "-q", "-m",
                    "base: Debian linux-source-6.12 (files touched by the series)"], check=True)
    for f in sorted(files):
        dst = os.path.join(FINAL, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.join(src, f), dst)
    print("initialised %s and %s" % (KGIT, FINAL))


def main():
    global BASE
    if sys.argv[1:] == ["--init"]:
        init()
        return
    BASE = git("rev-list", "--max-parents=0", "HEAD").split()[0]
    git("checkout", "-q", "-f", "-B", "series", BASE)
    env = dict(os.environ, GIT_AUTHOR_DATE="2026-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2026-01-01T00:00:00Z",
               GIT_AUTHOR_NAME="umcg-rpc kernel", GIT_COMMITTER_NAME="umcg-rpc kernel",
               GIT_AUTHOR_EMAIL="kernel@umcg-rpc.invalid",
               GIT_COMMITTER_EMAIL="kernel@umcg-rpc.invalid")
    for subject, body, files in COMMITS:
        for path, gen in files.items():
            full = os.path.join(KGIT, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(gen())
            git("add", path)
        git("commit", "-q", "-m", subject + "\n\n" + body + SOB, env=env)
    # Everything in FINAL must have landed.
    for dirpath, _, names in os.walk(FINAL):
        for n in names:
            rel = os.path.relpath(os.path.join(dirpath, n), FINAL)
            if open(os.path.join(KGIT, rel)).read() != final(rel):
                sys.exit("mkseries: %s differs from the final version" % rel)
    for old in os.listdir(OUT) if os.path.isdir(OUT) else []:
        if old.endswith(".patch"):
            os.remove(os.path.join(OUT, old))
    os.makedirs(OUT, exist_ok=True)
    names = git("format-patch", "--no-signature", "--zero-commit", "-N",
                "-o", OUT, BASE + "..series").split()
    with open(os.path.join(OUT, "series"), "w") as f:
        f.write("# UMCG for Debian linux-source-6.12, applied in order by kernel/build\n")
        for n in names:
            f.write(os.path.basename(n) + "\n")
    print("\n".join(os.path.basename(n) for n in names))


if __name__ == "__main__":
    main()
