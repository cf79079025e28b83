# The two commands of the README: `make demo` (install, then run the embedded demo) and
# `make test` (install, then run the test suite). Both install into .venv on first use.
VENV ?= .venv
CORES ?= all
# CPU wheel by default; GPU users install the CUDA build of torch first (see README).
TORCH ?= torch==2.13.0

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet "$(TORCH)"
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet -e .  # the library and its `downscaling` command
	touch $@

.PHONY: install demo test report
install: $(VENV)/.installed

demo: install
	$(VENV)/bin/snakemake --cores $(CORES)
	$(VENV)/bin/snakemake --report results/report.html
	@echo "The report: results/report.html (open it in a browser; the comparison table comes first)"

# The SLURM end-to-end test starts system daemons; it runs first, in a pytest process of its
# own, so that nothing else the suite does can interfere with their start-up.
test: install
	$(VENV)/bin/python -m pytest tests/test_slurm.py
	$(VENV)/bin/python -m pytest tests --ignore=tests/test_slurm.py
