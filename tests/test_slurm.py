"""profiles/slurm against a real single-node SLURM cluster with one fake GPU (tests/slurm/).

The cluster tests need root and Debian's SLURM packages, which the fixture installs with apt-get
when they are missing. Where that is impossible they skip, unless the environment variable CI is
set: on CI a cluster that cannot start fails the tests instead.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "slurm"))

from local_cluster import ClusterUnavailable, LocalSlurmCluster, install_packages  # noqa: E402

pytestmark = pytest.mark.slow

SNAKEFILE = REPO / "workflow" / "Snakefile"
PROFILE = REPO / "profiles" / "slurm"
# What each rule needs; Snakemake finds it beside the Snakefile, named here for the probe workflow.
WORKFLOW_PROFILE = REPO / "workflow" / "profiles" / "default"
# Test-only settings layered over PROFILE (squeue instead of the missing accounting database).
TEST_PROFILE = REPO / "tests" / "slurm" / "profile"
SMOKE_CONFIG = REPO / "tests" / "slurm" / "smoke_config.yaml"

# What the smoke run of the real workflow builds through SLURM, relative to its working
# directory. It reaches a GPU rule, so the fake GPU is requested and granted on the way.
SMOKE_TARGETS = ["results/models/small_unet/JJA/west/model.pt"]
SMOKE_TIMEOUT_S = 240

# A throwaway workflow whose one rule is named like a GPU rule of the pipeline, so that
# WORKFLOW_PROFILE's resources for that rule apply. Its first attempt fails on purpose: the retry must
# come back with the attempt-scaled memory and runtime.
PROBE_RULE = "train_large_model"
PROBE_SNAKEFILE = '''
rule all:
    input:
        "probe.txt",


rule {rule}:
    output:
        "probe.txt",
    shell:
        """
        echo "$SLURM_JOB_ID {{resources.mem_mb}} $CUDA_VISIBLE_DEVICES" > {{output}}
        test {{resources.mem_mb}} -gt {first_attempt_mem_mb}
        """
'''


def on_ci():
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def profile_settings(profile=PROFILE):
    """A profile's config.yaml as YAML (its `?` template keys left as they are)."""
    return yaml.safe_load((profile / "config.yaml").read_text())


def rule_resources():
    return profile_settings(WORKFLOW_PROFILE)["set-resources"]


def profile_resource(rule, name, attempt):
    """The workflow profile's value of one resource of `rule` at `attempt`, as Snakemake has it."""
    return eval(str(rule_resources()[rule][name]), {"attempt": attempt})


def profile_gpu_rules():
    """Rules that the workflow profile gives a GPU."""
    return {rule for rule, res in rule_resources().items() if res.get("gpu")}


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running cluster for this module's tests; every daemon it started is stopped after."""
    cluster = LocalSlurmCluster()
    try:
        if os.geteuid() != 0:
            raise ClusterUnavailable("not root")
        install_packages()
        cluster.start()
    except ClusterUnavailable as error:
        if on_ci():
            pytest.fail(f"the SLURM test cluster must start on CI: {error}")
        pytest.skip(f"no local SLURM cluster: {error}")
    yield cluster
    cluster.stop()


def run_snakemake(workdir, args, timeout_s):
    """Run Snakemake with the site and workflow profiles in `workdir`; returns the finished process.

    `timeout` sends SIGINT first, so that Snakemake cancels its SLURM jobs before it exits.
    The caller's SBATCH_*/SLURM_* variables stay out: the test cluster has its own partition.
    """
    command = [
        "timeout",
        "--signal=INT",
        "--kill-after=30",
        str(timeout_s),
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(PROFILE),
        "--profile",
        str(TEST_PROFILE),
        "--workflow-profile",
        str(WORKFLOW_PROFILE),
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SBATCH_", "SLURM_"))}
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)


def slurm_jobs(workdir):
    """Every job the cluster still knows (for MinJobAge) that ran in `workdir`, oldest first,
    as dicts of `scontrol show job` fields (JobState, TimeLimit, MinMemoryNode, ...)."""
    out = subprocess.run(["scontrol", "--oneliner", "show", "job"], capture_output=True, text=True, check=True).stdout
    jobs = [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in out.splitlines()]
    jobs = [job for job in jobs if job.get("WorkDir") == str(workdir)]
    return sorted(jobs, key=lambda job: int(job["JobId"]))


def memory_mb(scontrol_memory):
    """scontrol's memory field ('64000M', '62.50G') in MB, as sbatch --mem counts them."""
    factor = {"M": 1, "G": 1024, "T": 1024**2}[scontrol_memory[-1]]
    return round(float(scontrol_memory[:-1]) * factor)


def minutes(time_limit):
    """scontrol's TimeLimit ('12:00:00', '1-00:00:00') in minutes, as sbatch -t counts them."""
    days, _, clock = time_limit.rpartition("-")
    hours, mins, _secs = (int(part) for part in clock.split(":"))
    return int(days or 0) * 1440 + hours * 60 + mins


def failure_report(done, cluster, workdir):
    slurm_logs = "\n".join(
        f"--- {log} ---\n{log.read_text(errors='replace')[-2000:]}"
        for log in sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    )
    return f"exit {done.returncode}\n--- stderr ---\n{done.stderr[-6000:]}\n{slurm_logs}\n{cluster.daemon_logs()}"


def test_profile_resources_reach_slurm(slurm_cluster, tmp_path):
    """A GPU rule gets the fake GPU, the GPU partition and its threads as CPUs; its retry gets the
    next attempt's memory and runtime; jobs are requeueable."""
    first_attempt_mem_mb = profile_resource(PROBE_RULE, "mem_mb", attempt=1)
    (tmp_path / "Snakefile").write_text(
        PROBE_SNAKEFILE.format(rule=PROBE_RULE, first_attempt_mem_mb=first_attempt_mem_mb)
    )
    done = run_snakemake(tmp_path, ["--retries", "1"], timeout_s=120)
    assert done.returncode == 0, failure_report(done, slurm_cluster, tmp_path)

    first, second = slurm_jobs(tmp_path)
    assert (first["JobState"], second["JobState"]) == ("FAILED", "COMPLETED")
    assert first["Comment"] == second["Comment"] == f"rule_{PROBE_RULE}"
    for attempt, job in enumerate((first, second), start=1):
        assert memory_mb(job["MinMemoryNode"]) == profile_resource(PROBE_RULE, "mem_mb", attempt)
        assert minutes(job["TimeLimit"]) == profile_resource(PROBE_RULE, "runtime", attempt)
        assert job["NumCPUs"] == str(profile_settings()["set-threads"][PROBE_RULE])
        assert job["TresPerJob"] == "gres:gpu:1"
        assert job["Partition"] == "gpu"  # chosen by the plugin from the partition file
        assert job["Requeue"] == "1"  # slurm-requeue: a pre-empted job goes back to the queue

    job_id, mem_mb, cuda_devices = (tmp_path / "probe.txt").read_text().split()
    assert job_id == second["JobId"]
    assert int(mem_mb) == profile_resource(PROBE_RULE, "mem_mb", attempt=2)
    assert cuda_devices == "0"  # SLURM hands the job its GPU


def test_smoke_workflow_on_slurm(slurm_cluster, tmp_path):
    """The real workflow on the smoke config through the profiles: exactly the workflow
    profile's GPU rules ask for the GPU and go to the GPU partition, the others to the CPU
    partition; local rules are not submitted."""
    # The Snakefile's `configfile:` is relative to the working directory.
    (tmp_path / "config").mkdir()
    shutil.copy(SMOKE_CONFIG, tmp_path / "config" / "config.yaml")
    done = run_snakemake(tmp_path, ["--snakefile", str(SNAKEFILE), *SMOKE_TARGETS], timeout_s=SMOKE_TIMEOUT_S)
    assert done.returncode == 0, failure_report(done, slurm_cluster, tmp_path)

    for target in SMOKE_TARGETS:
        assert (tmp_path / target).stat().st_size > 0, target
    jobs = slurm_jobs(tmp_path)
    assert jobs and all(job["JobState"] == "COMPLETED" for job in jobs)
    # The plugin comments each job "rule_<rule>" or "rule_<rule>_wildcards_<values>".
    placement = {
        job["Comment"].removeprefix("rule_").split("_wildcards_")[0]: (job.get("TresPerJob"), job["Partition"])
        for job in jobs
    }
    assert placement == {
        rule: ("gres:gpu:1", "gpu") if rule in profile_gpu_rules() else (None, "cpu") for rule in placement
    }
    assert profile_gpu_rules() & set(placement), "the smoke run reached no GPU rule"
    assert "splits" not in placement and (tmp_path / "results/splits").is_dir()  # a local rule


def test_profile_names_only_rules_of_the_workflow():
    """A rule renamed in the workflow but not in a profile would silently lose its GPU; the site
    profile leaves rule resources to the workflow profile (it would override them otherwise)."""
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--list-rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # One rule per line, "<name> (<docstring>)"; docstring continuation lines are indented.
    rules = {line.split()[0] for line in done.stdout.splitlines() if line[:1].strip()}
    assert "set-resources" not in profile_settings()
    named = set(profile_settings()["set-threads"]) | set(rule_resources())
    assert named <= rules, f"the profiles name rules the workflow lacks: {named - rules}"
    assert profile_gpu_rules() == {
        "train_small_unet",
        "extract_features",
        "train_large_model",
        "downscale",
        "spread_calibration",
        "downscale_longrun",
    }
