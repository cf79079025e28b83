"""The model variants: one entry each, read by the rules (wildcards, inputs, model lists) and by
the library (what to build, train and sample). Torch-free, so that planning never imports torch.

Adding a variant is one entry here plus the code its flags do not already cover.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

HISTORY_ENCODERS = ("transfer", "finetuned", "scratch", None)


@dataclass(frozen=True)
class Variant:
    """What a large model is, as the pipeline needs to know it."""

    diffusion: bool  # sampled: an ensemble of members; else one deterministic field
    # How the previous n_lag G5NR days enter: through the frozen encoder of the small U-Net
    # pretrained on MERRA-2 ("transfer"), through that encoder trained further with this model
    # ("finetuned", at a lower learning rate: the usual practice of transfer learning), through
    # an encoder of the same shape trained from scratch with this model ("scratch"), or not at
    # all (None). The last three are the transfer ablation.
    history: str | None
    # CorrDiff: the diffusion model samples G5NR minus the prediction of this deterministic model
    residual_of: str | None = None
    prediction: str = "x0"  # what the denoiser outputs: x0 (the paper's) or v (Salimans & Ho 2022)
    formulation: str = ""  # how the summary table names it
    # The frozen-transfer model this one ablates (None for a model of its own): it takes that
    # model's per_model settings, so that the two differ in how the history enters alone
    ablation_of: str | None = None

    def __post_init__(self):
        if self.history not in HISTORY_ENCODERS:
            raise ValueError(f"history must be one of {HISTORY_ENCODERS}, got {self.history!r}")

    @property
    def transfer(self) -> bool:
        """Whether it is conditioned on the pretrained encoder's transfer features."""
        return self.history == "transfer"

    @property
    def trains_encoder(self) -> bool:
        """Whether it trains a history encoder of its own (fine-tuned or from scratch)."""
        return self.history in ("finetuned", "scratch")

    @property
    def bounded(self) -> bool:
        """Whether the network's output is a normalised G5NR tile in [0, 1] (sigmoid head)."""
        return self.prediction == "x0" and self.residual_of is None


#: Each history kind of the transfer ablation: (the name's suffix, how the formulation says it).
ABLATION_KINDS = {
    "finetuned": ("_finetuned", "history through the pretrained encoder fine-tuned with it"),
    "scratch": ("_scratch", "history without transfer: the same encoder trained from scratch with it"),
    None: ("_notransfer", "no history"),
}


def transfer_ablation_of(name: str, variant: Variant) -> dict[str, Variant]:
    """The transfer ablation of a variant whose history goes through the frozen pretrained
    encoder: the same variant with each other history kind, named `{name}{suffix}`. A residual
    variant's ablation samples around its base's ablation of the same kind (a training batch
    carries one kind of history, which the base reads too)."""
    return {
        f"{name}{suffix}": replace(
            variant,
            history=kind,
            formulation=f"{name}, {words}",
            residual_of=variant.residual_of and f"{variant.residual_of}{suffix}",
            ablation_of=name,
        )
        for kind, (suffix, words) in ABLATION_KINDS.items()
    }


_DDPM = Variant(
    diffusion=True,
    history="transfer",
    formulation="the paper's: DDPM predicting x0, history with transfer (pretrained encoder)",
)
_UNET = Variant(diffusion=False, history="transfer", formulation="deterministic U-Net, ddpm's inputs, MSE")

_RESIDUAL = Variant(
    diffusion=True,
    history="transfer",
    residual_of="unet",
    prediction="v",
    formulation="residual diffusion (CorrDiff): unet + sampled residual, v-prediction",
)

#: In order of preference for the config's default `method` (the first one in `models`).
VARIANTS = {
    "ddpm_residual": _RESIDUAL,
    "ddpm": _DDPM,
    # The transfer ablations differ from their model in how the history enters alone (the demo
    # runs ddpm_scratch and ddpm_notransfer; config/transfer_study.yaml the others)
    **transfer_ablation_of("ddpm", _DDPM),
    **transfer_ablation_of("ddpm_residual", _RESIDUAL),
    "unet": _UNET,
    **transfer_ablation_of("unet", _UNET),
}


def check_registry(variants: dict[str, Variant]) -> None:
    """ValueError naming the entry when a residual variant cannot be built: its base must be a
    deterministic variant of the registry fed the same history (a training batch carries one
    kind of history input, which the base model reads too)."""
    for name, variant in variants.items():
        if variant.residual_of is None:
            continue
        base = variants.get(variant.residual_of)
        if base is None or base.diffusion:
            raise ValueError(f"variant {name!r}: residual_of={variant.residual_of!r} is not a deterministic variant")
        if base.history != variant.history:
            raise ValueError(
                f"variant {name!r}: history={variant.history!r} differs from its base "
                f"{variant.residual_of!r}'s ({base.history!r}); a residual variant reads its base's history"
            )


check_registry(VARIANTS)


@dataclass(frozen=True)
class Baseline:
    """A reference without a large model (downscaling/inference/baselines.py makes its fields)."""

    formulation: str
    ensemble: bool = False  # members drawn at random, as many as the method samples


BASELINES = {
    "interp": Baseline("MERRA-2 on the G5NR grid"),
    "interp_qm": Baseline(
        "MERRA-2 on the G5NR grid, bias-adjusted per pixel by empirical quantile mapping "
        "(xsdba EQM) learnt on the season's training days"
    ),
    "interp_mm": Baseline(
        "MERRA-2 on the G5NR grid with each pixel's mean and standard deviation matched to G5NR's "
        "over the season's training days"
    ),
    "interp_qm_stochastic": Baseline(
        "interp_qm plus G5NR-minus-interp_qm residual fields of training days drawn at random, one per member",
        ensemble=True,
    ),
    "persistence": Baseline("the day before's G5NR (strict: its own forecast where that day is a test day)"),
}
MODELS = (*VARIANTS, *BASELINES)
ENSEMBLE_MODELS = tuple(name for name, v in VARIANTS.items() if v.diffusion)


def has_members(model: str) -> bool:
    """Whether `model` writes an ensemble: a diffusion variant or an ensemble baseline."""
    return model in ENSEMBLE_MODELS or (model in BASELINES and BASELINES[model].ensemble)


def formulation(model: str) -> str:
    """How the summary table names a model."""
    return (VARIANTS.get(model) or BASELINES[model]).formulation


def reads_history(model: str) -> bool:
    """Whether `model`, or the model it builds on, conditions on the encoded history."""
    return any(VARIANTS[name].history for name in trained_inputs(model))


def deterministic_twin(model: str) -> str | None:
    """The deterministic variant a diffusion model is judged against: a residual model's base (the
    mean it samples around), else the deterministic U-Net fed the same history (None for a model
    that is not a diffusion variant)."""
    variant = VARIANTS.get(model)
    if variant is None or not variant.diffusion:
        return None
    if variant.residual_of:
        return variant.residual_of
    return next(name for name, other in VARIANTS.items() if not other.diffusion and other.history == variant.history)


def default_method(models) -> str | None:
    """The diffusion model the maps and the long run show when the config names none."""
    return next((name for name in ENSEMBLE_MODELS if name in models), None)


def needs_small_unet(model: str) -> bool:
    """Whether training or downscaling `model` reads the small U-Net: its encoder makes the
    transfer features, and its shape, normalisation (and for a fine-tuned encoder its weights)
    are those of an encoder the model trains."""
    return reads_history(model)


def trained_inputs(model: str) -> list[str]:
    """The large models whose trained weights `model` needs, itself first ([] for baselines)."""
    if model not in VARIANTS:
        return []
    residual_of = VARIANTS[model].residual_of
    return [model] + ([residual_of] if residual_of else [])


def transfer_ablations(models) -> list[dict[str | None, str]]:
    """{history kind: model} for each family of variants among `models` that differ in nothing
    but how the history enters (HISTORY_ENCODERS' kinds, those run); only families with the
    transfer variant and at least one of its ablations."""

    def rest(name):
        variant = VARIANTS[name]
        base = variant.residual_of and rest(variant.residual_of)
        return replace(variant, history=None, formulation="", residual_of=None, ablation_of=None), base

    trained = [name for name in models if name in VARIANTS]
    families = []
    for name in trained:
        if VARIANTS[name].history != "transfer":
            continue
        partners = {VARIANTS[other].history: other for other in trained if other != name and rest(other) == rest(name)}
        if partners:
            families.append({"transfer": name, **partners})
    return families


def wildcard_pattern(names) -> str:
    return "|".join(names)
