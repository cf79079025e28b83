# The two commands of the README: `make demo` (install, then run the embedded demo) and
# `make test` (install, then run the test suite). Both install into .venv on first use.
VENV ?= .venv
CORES ?= all
# CPU wheel by default; GPU users install the CUDA build of torch first (see README and docs/performance.md).
TORCH ?= torch==2.13.0

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet "$(TORCH)"
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet -e .  # the library and its `downscaling` command
	touch $@

.PHONY: install demo test test-fast report
install: $(VENV)/.installed

# The rate limit is Snakemake's default (100 jobs a second) counted over 10 s: every pass of its
# scheduling loop re-arms a timer of that span, and each finished job adds a chain of them, so
# with the default 1-s span the loop ran ~N times a second after N jobs (a third of a core in
# the demo); timers every 10 s cost a tenth of that, and up to 10 s at exit (docs/performance.md).
SCHEDULER ?= --max-jobs-per-timespan 1000/10s

demo: install
	$(VENV)/bin/snakemake --cores $(CORES) $(SCHEDULER)
	$(VENV)/bin/snakemake --report results/report.html
	@echo "The report: results/report.html (open it in a browser; the comparison table comes first)"

# The SLURM end-to-end test starts system daemons; it runs first, in a pytest process of its
# own, so that nothing else the suite does can interfere with their start-up.
test: install
	$(VENV)/bin/python -m pytest tests/test_slurm.py
	$(VENV)/bin/python -m pytest tests --ignore=tests/test_slurm.py

# The inner loop: everything but the tests marked slow (whole Snakemake runs, the SLURM cluster).
test-fast: install
	$(VENV)/bin/python -m pytest tests -m "not slow" --ignore=tests/test_slurm.py
