"""A throwaway single-node SLURM cluster with one fake GPU, for the end-to-end test of the profile.

Debian 12 packages (SLURM 22.05): slurmctld, slurmd, slurm-client, munge. Needs root, no systemd.
The cluster is one node called ``localhost`` with two partitions (``cpu``, the default, and ``gpu``), one
fake GPU (gres.conf points it at /dev/null) and no accounting database. Its own munged listens on
its own socket; every daemon runs in the foreground of its own session, and `start` records each
daemon's PID and command line so that `stop` ends exactly those processes and nothing else.

The configuration must sit at /etc/slurm/slurm.conf: the executor plugin's job step drops
SLURM_CONF before it calls ``srun``. A slurm.conf there that this module did not write (it carries
`MARKER`) is never touched: `start` raises `ClusterUnavailable` instead.

Command line (as root)::

    python tests/slurm/local_cluster.py install   # apt-get the packages (no-op when installed)
    python tests/slurm/local_cluster.py start     # munged, slurmctld, slurmd; waits for the node
    python tests/slurm/local_cluster.py status
    python tests/slurm/local_cluster.py stop      # stops the recorded daemons, removes the configs
"""

import argparse
import json
import os
import shutil
import signal
import string
import subprocess
import sys
import time
from pathlib import Path

MARKER = "# Written by tests/slurm/local_cluster.py (throwaway SLURM test cluster)."
HERE = Path(__file__).resolve().parent
SLURM_CONF = Path("/etc/slurm/slurm.conf")
GRES_CONF = Path("/etc/slurm/gres.conf")
DEFAULT_STATE_DIR = Path("/run/snakemake-slurm-test")
DEBIAN_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
REQUIRED_PROGRAMS = ("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "munged")

# The node claims at least this much, so that the workflow profile's largest requests (a GPU rule's
# first and second attempts) are accepted by sbatch unchanged; SlurmdParameters=config_overrides
# lets the node claim more than the machine has. Nothing is enforced without cgroups.
NODE_MIN_CPUS = 16
NODE_MIN_MEMORY_MB = 262144


class ClusterUnavailable(RuntimeError):
    """The cluster cannot be set up on this machine (not root, no packages, a foreign slurm.conf,
    a daemon that did not come up); the message says which and carries the daemon logs."""


def missing_programs():
    """Names of the programs the cluster needs that are not on PATH."""
    return [name for name in REQUIRED_PROGRAMS if shutil.which(name) is None]


def install_packages(timeout_s=600):
    """Install the Debian packages with apt-get unless every program is already there.

    Raises ClusterUnavailable when not root, when apt-get is absent, or when it fails.
    """
    if not missing_programs():
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable("installing the SLURM packages needs root")
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable(f"missing {missing_programs()} and no apt-get to install {DEBIAN_PACKAGES}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    commands = [
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *DEBIAN_PACKAGES],
    ]
    for command in commands:
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as timeout:
            raise ClusterUnavailable(f"{' '.join(command)} took over {timeout_s} s") from timeout
        if done.returncode != 0:
            raise ClusterUnavailable(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    if missing_programs():
        raise ClusterUnavailable(f"still missing after apt-get: {missing_programs()}")


def _client_env():
    """The environment for SLURM commands: the config at its default path, as the job step sees it."""
    return {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}


def _run(command, timeout_s=10):
    """Run a command; returns (exit status, stdout + stderr). A timeout counts as status 124."""
    try:
        done = subprocess.run(command, env=_client_env(), capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return 124, f"{command[0]} timed out after {timeout_s} s"
    return done.returncode, done.stdout + done.stderr


def _proc_cmdline(pid):
    """The argv of a live (non-zombie) process, or None when it is gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return raw.decode(errors="replace").split("\0")[:-1]


def _reap(pid):
    """Collect a daemon's exit status when this process started it (else it is not our child)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _is_ours(slurm_conf):
    return slurm_conf.is_file() and slurm_conf.read_text().startswith(MARKER)


class LocalSlurmCluster:
    """munged + slurmctld + slurmd on this machine, all state under `state_dir`.

    min_job_age_s: SLURM's MinJobAge. Without slurmdbd the executor polls squeue, which must
    still list a job when the first status check comes, so keep it >= 3 x the executor's
    --slurm-init-seconds-before-status-checks (the plugin falls back to sacct otherwise, and
    sacct has nothing to say without accounting).
    """

    def __init__(self, state_dir=DEFAULT_STATE_DIR, min_job_age_s=300):
        self.state_dir = Path(state_dir)
        self.min_job_age_s = min_job_age_s
        self.pid_file = self.state_dir / "daemons.json"
        self.munge_dir = self.state_dir / "munge"
        self.munge_socket = self.munge_dir / "munge.socket.2"
        self.log_dir = self.state_dir / "log"

    # ---- life cycle -------------------------------------------------------------------------

    def start(self, timeout_s=60):
        """Write the configs, start the three daemons and wait until the node is idle.

        Idempotent: returns at once when the recorded daemons are all alive and the node up.
        Raises ClusterUnavailable (after stopping whatever it started) when anything fails.
        """
        if os.geteuid() != 0:
            raise ClusterUnavailable("the SLURM daemons need root")
        if missing_programs():
            raise ClusterUnavailable(f"missing programs: {missing_programs()}")
        for conf in (SLURM_CONF, GRES_CONF):
            if conf.exists() and not _is_ours(conf):
                raise ClusterUnavailable(
                    f"{conf} exists and was not written by {Path(__file__).name}; "
                    "refusing to overwrite a real SLURM configuration"
                )
        if self.is_running() and self.node_state() in ("idle", "mix", "alloc"):
            return
        self.stop()  # leftovers of an earlier, partial start
        deadline = time.monotonic() + timeout_s
        try:
            self._prepare_state_dir()
            self._write_configs()
            self._launch("munged", self._munged_argv())
            self._wait_for("munged to answer", self._munge_works, deadline)
            self._launch("slurmctld", ["slurmctld", "-D"])
            self._wait_for("slurmctld to answer", self._controller_up, deadline)
            self._launch("slurmd", ["slurmd", "-D", "-N", "localhost"])
            self._wait_for("the node to be idle", lambda: self.node_state() == "idle", deadline)
        except ClusterUnavailable as error:
            logs = self.daemon_logs()
            self.stop()
            raise ClusterUnavailable(f"{error}\n{logs}") from None

    def stop(self, timeout_s=15):
        """Cancel this cluster's jobs, stop exactly the recorded daemons, remove the configs.

        A recorded PID whose command line is no longer the daemon's (reused PID) is left alone.
        The state directory (logs) stays for a post-mortem; the next `start` wipes it.
        """
        daemons = self._recorded()
        if "slurmctld" in daemons and self._alive(daemons["slurmctld"]):
            self._cancel_all_jobs(timeout_s)
        for name in reversed(list(daemons)):  # slurmd, slurmctld, then munged
            self._terminate(daemons[name], timeout_s)
        for pid in self._orphans():
            self._terminate({"pid": pid, "argv": ["munged"]}, timeout_s)
        for conf in (SLURM_CONF, GRES_CONF):
            if _is_ours(conf):
                conf.unlink()
        self.pid_file.unlink(missing_ok=True)

    def _orphans(self):
        """munged processes of this cluster (their command line names its state directory)."""
        mine = str(self.state_dir)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                argv = _proc_cmdline(int(entry.name))
                if argv and Path(argv[0]).name == "munged" and any(mine in arg for arg in argv):
                    yield int(entry.name)

    def is_running(self):
        """True when all three recorded daemons are alive."""
        daemons = self._recorded()
        return len(daemons) == 3 and all(self._alive(d) for d in daemons.values())

    # ---- queries ----------------------------------------------------------------------------

    def node_state(self):
        """sinfo's short state of the node ('idle', 'mix', 'alloc', 'down*', ...), or None."""
        status, out = _run(["sinfo", "--noheader", "--Node", "--format=%t"])
        states = out.split()
        return states[0] if status == 0 and states else None

    def daemon_logs(self, tail_lines=30):
        """The last lines of every daemon log, for error messages."""
        parts = []
        for log in sorted(self.log_dir.glob("*")) if self.log_dir.is_dir() else []:
            lines = log.read_text(errors="replace").splitlines()[-tail_lines:]
            parts.append(f"--- {log} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    # ---- internals --------------------------------------------------------------------------

    def _prepare_state_dir(self):
        """A fresh state directory; an existing one is wiped only if this module made it."""
        owner_mark = self.state_dir / "made-by-local_cluster"
        if self.state_dir.exists():
            if any(self.state_dir.iterdir()) and not owner_mark.exists():
                raise ClusterUnavailable(f"{self.state_dir} exists and is not ours to wipe")
            shutil.rmtree(self.state_dir)
        for sub in ("slurmctld", "slurmd", "log"):
            (self.state_dir / sub).mkdir(parents=True)
        owner_mark.touch()
        # munged refuses group/world-writable directories; clients need to reach the socket.
        self.munge_dir.mkdir(mode=0o755)
        self.state_dir.chmod(0o755)
        self.munge_dir.chmod(0o755)
        key = self.munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)

    def _munged_argv(self):
        return [
            "munged",
            "--foreground",
            f"--socket={self.munge_socket}",
            f"--key-file={self.munge_dir / 'munge.key'}",
            f"--pid-file={self.munge_dir / 'munged.pid'}",
            f"--seed-file={self.munge_dir / 'munged.seed'}",
            f"--log-file={self.log_dir / 'munged.log'}",
        ]

    def _write_configs(self):
        cpus, memory_mb = self._hardware()
        values = {
            "marker": MARKER,
            "state_dir": self.state_dir,
            "cpus": max(cpus, NODE_MIN_CPUS),
            "memory_mb": max(memory_mb, NODE_MIN_MEMORY_MB),
            "min_job_age": self.min_job_age_s,
            "slurmctld_port": 6817,
            "slurmd_port": 6818,
        }
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        for conf in (SLURM_CONF, GRES_CONF):
            template = string.Template((HERE / f"{conf.name}.in").read_text())
            conf.write_text(template.substitute(values))

    @staticmethod
    def _hardware():
        """(CPUs, memory in MB) of this machine as slurmd itself counts them."""
        status, out = _run(["slurmd", "-C"])
        if status != 0:
            raise ClusterUnavailable(f"slurmd -C failed: {out}")
        fields = dict(item.split("=", 1) for item in out.split() if "=" in item)
        return int(fields["CPUs"]), int(fields["RealMemory"])

    def _launch(self, name, argv):
        """Start one daemon in its own session (it outlives this process) and record it."""
        out = open(self.log_dir / f"{name}.out", "ab")
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_client_env(),
            start_new_session=True,
        )
        out.close()
        daemons = self._recorded()
        daemons[name] = {"pid": process.pid, "argv": argv}
        self.pid_file.write_text(json.dumps(daemons, indent=1))

    def _recorded(self):
        if not self.pid_file.is_file():
            return {}
        return json.loads(self.pid_file.read_text())

    @staticmethod
    def _alive(daemon):
        # the process name, not the whole command line: a daemon may rewrite its title, and a
        # live daemon taken for dead was reported as "exited" and then left running unrecorded
        argv = _proc_cmdline(daemon["pid"])
        if argv is None:
            return False
        try:
            name = Path(f"/proc/{daemon['pid']}/comm").read_text().strip()
        except FileNotFoundError:
            return False
        return name == Path(daemon["argv"][0]).name[:15]

    def _terminate(self, daemon, timeout_s):
        if not self._alive(daemon):
            _reap(daemon["pid"])
            return
        os.kill(daemon["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            _reap(daemon["pid"])
            if not self._alive(daemon):
                return
            time.sleep(0.2)
        os.kill(daemon["pid"], signal.SIGKILL)
        time.sleep(0.2)
        _reap(daemon["pid"])

    def _cancel_all_jobs(self, timeout_s):
        """Every job in this throwaway cluster is the test's: cancel them so no slurmstepd lingers."""
        status, out = _run(["squeue", "--noheader", "--format=%i"])
        job_ids = out.split() if status == 0 else []
        if not job_ids:
            return
        _run(["scancel", *job_ids])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status, out = _run(["squeue", "--noheader", "--states=RUNNING,COMPLETING,PENDING"])
            if status != 0 or not out.strip():
                return
            time.sleep(0.5)

    def _munge_works(self):
        socket = f"--socket={self.munge_socket}"
        try:
            credential = subprocess.run(
                ["munge", socket, "--no-input"], capture_output=True, timeout=5, check=True
            ).stdout
            subprocess.run(["unmunge", socket], input=credential, capture_output=True, timeout=5, check=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return False
        return True

    @staticmethod
    def _controller_up():
        status, out = _run(["scontrol", "ping"])
        return status == 0 and "UP" in out

    def _wait_for(self, what, ready, deadline):
        while time.monotonic() < deadline:
            for name, daemon in self._recorded().items():
                if not self._alive(daemon):
                    raise ClusterUnavailable(f"{name} exited while waiting for {what}")
            if ready():
                return
            time.sleep(0.5)
        raise ClusterUnavailable(f"timed out waiting for {what}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["install", "start", "stop", "status"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args(argv)
    cluster = LocalSlurmCluster(args.state_dir)
    try:
        if args.action == "install":
            install_packages()
        elif args.action == "start":
            started = time.monotonic()
            cluster.start()
            print(f"cluster up in {time.monotonic() - started:.1f} s; node {cluster.node_state()}")
        elif args.action == "stop":
            cluster.stop()
        else:
            running = cluster.is_running()
            print(f"daemons {'running' if running else 'not running'}; node {cluster.node_state()}")
            return 0 if running else 1
    except ClusterUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
