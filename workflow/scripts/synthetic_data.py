"""Rule synthetic_data: write the embedded demo's synthetic MERRA-2, G5NR and elevation files."""

import os
from pathlib import Path

# The world's matrix products are small: BLAS threads waiting for work only cost time.
# Set before NumPy is first imported (below), which reads it once.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(snakemake.threads))

from downscaling.demo.files import check_inputs_written, write_synthetic_dataset
from downscaling.demo.world import SyntheticSpec
from downscaling.jobs import log_to_file

log = log_to_file(snakemake.log[0])
spec = SyntheticSpec.from_config(snakemake.params.world)
log.info("%s", spec)
outdir = Path(snakemake.output.manifest).parent  # synthetic.outdir
manifest = write_synthetic_dataset(spec, outdir, snakemake.output.manifest, snakemake.output.verification)
log.info("%d MERRA-2 files, %d G5NR files", manifest["merra2"]["count"], manifest["g5nr"]["count"])
check_inputs_written(snakemake.params.world["inputs"])
