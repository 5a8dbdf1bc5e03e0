"""The experiment file's schema: what each key means, its type and its default."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from fractions import Fraction
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from clusterlab.device import DEVICE_PATTERN

AXIS_FORMS = ("range", "linspace", "values", "each")
#: The axis form whose values a dataset plugin lists (every dataset of a battery, say).
EACH = "each"
#: The formats figures can be saved as (``plots: {format: ...}``); the artifact's
#: extension is the format.
ImageFormat = Literal["png", "svg", "pdf"]
IMAGE_FORMATS: tuple[ImageFormat, ...] = get_args(ImageFormat)
DEFAULT_IMAGE_FORMAT: ImageFormat = "png"
DEFAULT_DPI = 100


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_FLOAT_MAX = sys.float_info.max
# Points of a float range count as inside it up to this relative slack, so that
# {range: [0.1, 0.3, 0.1]} ends at 0.3 although 0.1 + 2 * 0.1 > 0.3 in floating point.
_RANGE_SLACK = 1e-12
# Past this many points a float range is not stepped to its exact end: no grid comes
# near it, and floats cannot tell its neighbouring points apart anyway.
_EXACT_RANGE_POINTS = 2**53


def check_axis(value: Any) -> Any:
    """Validate one grid axis: a list, or ``{range: [start, stop(, step)]}``, ``{linspace:
    [start, stop, num]}`` or ``{values: [...]}``.

    Only the spec is read, never expanded: the grid's size is counted from it first
    (:func:`axis_length`), so that an axis of a billion values is refused, not built.
    """
    if isinstance(value, list):
        if not value:
            raise ValueError("a grid axis needs at least one value")
        return value
    if isinstance(value, dict) and len(value) == 1:
        form, args = next(iter(value.items()))
        if form == "values":
            return check_axis(args)
        if form == "range":
            _check_range(args)
            return value
        if form == "linspace":
            _check_linspace(args)
            return value
        if form == EACH:
            if args is not None and not isinstance(args, dict):
                raise ValueError(
                    "each takes a mapping of the filters its dataset offers, e.g. "
                    "{each: {max_samples: 10000}}, or {each: {}} for every value"
                )
            return {EACH: dict(args or {})}
    raise ValueError(
        "a grid axis is a list of values or one of {range: [start, stop, step]}, "
        "{linspace: [start, stop, num]}, {values: [...]}, {each: {...}} (every value a "
        "dataset offers); for a fixed list value use params"
    )


def _check_range(args: Any) -> None:
    if not isinstance(args, list) or len(args) not in (2, 3) or not all(map(_is_number, args)):
        raise ValueError("range takes [start, stop] or [start, stop, step] (numbers)")
    _check_finite("range", args)
    step = args[2] if len(args) == 3 else 1
    if step <= 0:
        raise ValueError("range's step must be positive")
    if args[1] < args[0]:
        raise ValueError(f"range [{args[0]}, {args[1]}] is empty: stop is below start")


def _check_linspace(args: Any) -> None:
    if (
        not isinstance(args, list)
        or len(args) != 3
        or not all(map(_is_number, args[:2]))
        or not _is_whole(args[2])
    ):
        raise ValueError("linspace takes [start, stop, num]: numbers and a whole number num")
    _check_finite("linspace", args[:2])
    if args[2] < 1:
        raise ValueError("linspace's num must be at least 1")


def _is_number(value: Any) -> bool:
    # ``True`` is an int to Python; in a file it is a boolean, never a bound.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_finite(form: str, numbers: list[int | float]) -> None:
    # NaN compares false with everything (an empty axis that looks fine), an infinite
    # bound has no end, and an int past the float range cannot be stepped through.
    for number in numbers:
        finite = math.isfinite(number) if isinstance(number, float) else abs(number) <= _FLOAT_MAX
        if not finite:
            raise ValueError(f"{form} takes finite numbers, not {number!r}")


def axis_length(value: Any) -> int:
    """How many values a validated grid axis has, counted from its spec without expanding
    it (the length of :func:`expand_axis`, however large)."""
    if isinstance(value, list):
        return len(value)
    form, args = next(iter(value.items()))
    if form == "values":
        return len(args)
    if form == "range":
        return _range_length(args[0], args[1], args[2] if len(args) == 3 else 1)
    if form == EACH:
        # Unknown until the dataset's plugin lists the values; the grid is counted again
        # once it has.
        return 1
    return int(args[2])


def _range_length(start: int | float, stop: int | float, step: int | float) -> int:
    if all(isinstance(n, int) for n in (start, stop, step)):
        return int((stop - start) // step) + 1
    # Exact rationals: no overflow between extreme bounds, no rounding in the estimate.
    estimate = int((Fraction(stop) - Fraction(start)) / Fraction(step))
    if estimate > _EXACT_RANGE_POINTS:
        return estimate + 1
    # Then the same test expand_axis applies to each point, so both agree on the end.
    count = estimate + 1
    while count > 0 and not _in_range(start, stop, step, count - 1):
        count -= 1
    while _in_range(start, stop, step, count):
        count += 1
    return count


def _in_range(start: int | float, stop: int | float, step: int | float, index: int) -> bool:
    return start + index * step <= stop + _RANGE_SLACK * max(1.0, abs(stop))


def expand_axis(value: Any) -> list[Any]:
    """The values of a validated grid axis; ``range`` includes both ends.

    Builds every value: count them first with :func:`axis_length`.
    """
    if isinstance(value, list):
        return list(value)
    form, args = next(iter(value.items()))
    if form == "values":
        return list(args)
    if form == EACH:
        raise ValueError("an {each: ...} axis is listed by its dataset's plugin first")
    if form == "range":
        start, step = args[0], args[2] if len(args) == 3 else 1
        points = (start + index * step for index in range(axis_length(value)))
        return [round(p, 12) if isinstance(p, float) else p for p in points]
    start, stop, num = args
    if num == 1:
        return [float(start)]
    return [round(start + (stop - start) * i / (num - 1), 12) for i in range(num)]


def listed_points(value: Any) -> list[Any] | None:
    """The values of an axis written out as a list (``[...]`` or ``{values: [...]}``);
    ``None`` for ``range`` and ``linspace``, whose values are computed."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and "values" in value:
        return listed_points(value["values"])
    return None


# Checked per key, so that an error points at the axis itself (``grid.n_clusters``).
GridAxis = Annotated[Any, AfterValidator(check_axis)]
#: A seed as numpy and torch take it: a whole number from 0 to 2**32 - 1 (not a boolean).
Seed = Annotated[int, Field(strict=True, ge=0, lt=2**32)]


class Component(_Strict):
    """A dataset or algorithm entry: a registered name, fixed params and swept grid axes."""

    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, GridAxis] = Field(default_factory=dict)
    label: str | None = None

    @field_validator("grid")
    @classmethod
    def _check_grid(cls, grid: dict[str, Any]) -> dict[str, Any]:
        for key, axis in grid.items():
            if "," in key:
                names = [n.strip() for n in key.split(",")]
                points = listed_points(axis)
                if points is None:
                    raise ValueError(
                        f"paired axis '{key}' lists its points: [[v1, v2], ...], "
                        "not a range or linspace"
                    )
                for point in points:
                    if not isinstance(point, list) or len(point) != len(names):
                        raise ValueError(
                            f"paired axis '{key}' needs lists of {len(names)} values, got {point!r}"
                        )
        return grid

    @model_validator(mode="after")
    def _no_overlap(self) -> Component:
        both = set(self.params) & set(self.param_names_swept())
        if both:
            raise ValueError(f"{sorted(both)} set both in params and grid: keep each in one place")
        return self

    def param_names_swept(self) -> list[str]:
        """Parameter names the grid sweeps (paired axes give several names)."""
        names: list[str] = []
        for key in self.grid:
            names.extend(n.strip() for n in key.split(","))
        return names


class DatasetEntry(Component):
    """A dataset in the experiment, with optional preprocessing steps applied in order."""

    preprocess: list[str | dict[str, dict[str, Any]]] = Field(default_factory=list)
    #: The seed the data (and its preprocessing) is made from, whatever the trial's seed:
    #: the seeds then vary only the algorithm, as a stability study needs. By default
    #: each trial seed makes its own data.
    data_seed: Seed | None = None

    @field_validator("preprocess")
    @classmethod
    def _check_steps(cls, steps: list[Any]) -> list[Any]:
        for step in steps:
            if isinstance(step, dict) and len(step) != 1:
                raise ValueError(
                    "a preprocess step is a name or {name: {param: value}}, one name per step"
                )
        return steps


class MetricEntry(_Strict):
    """A metric with options: written as a name, or ``{name: silhouette, sample_size: 1000}``."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1)

    @property
    def options(self) -> dict[str, Any]:
        """The metric's options (every key but ``name``)."""
        return dict(self.model_extra or {})

    @property
    def key(self) -> str:
        """The name logged to MLflow: options appended so two variants never collide."""
        if not self.options:
            return self.name
        parts = [f"{k}_{_slug(v)}" for k, v in sorted(self.options.items())]
        return ".".join([self.name, *parts])


def _slug(value: Any) -> str:
    text = str(value)
    return "".join(c if c.isalnum() or c in "-." else "-" for c in text)


#: Sections that may be written as a bare list standing for one key of their mapping
#: form (``plots: [scatter]`` is ``plots: {names: [scatter]}``): the key path and that key.
LIST_SHORTHANDS: dict[tuple[str, ...], str] = {("plots",): "names"}


class Plots(_Strict):
    """``plots``: the per-trial plots by name, and how every figure is saved.

    Written as a list of names (``plots: [scatter]``), or as a mapping that also sets
    the image format and resolution of all figures, the trials' plots and the parent
    run's summary figures alike: ``plots: {names: [scatter], format: svg, dpi: 150}``
    (``format`` one of :data:`IMAGE_FORMATS`, ``dpi`` a whole number from 10 to 1200).
    Iterating over it gives the names, as over the list it used to be.
    """

    names: list[str] = Field(default_factory=list)
    format: ImageFormat = DEFAULT_IMAGE_FORMAT
    # Strict, so that ``dpi: true`` is an error rather than a resolution of 1.
    dpi: int = Field(default=DEFAULT_DPI, ge=10, le=1200, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _list_form(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {LIST_SHORTHANDS[("plots",)]: value}
        return value

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        # Case does not matter in the file (SVG, Pdf); the message lists what does.
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in IMAGE_FORMATS:
            raise ValueError(
                f"unknown image format {value!r}: use {', '.join(IMAGE_FORMATS)} "
                f"(the default is {DEFAULT_IMAGE_FORMAT})"
            )
        return text

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        """The plot names, in the file's order."""
        return iter(self.names)

    def __len__(self) -> int:
        """The number of plots named."""
        return len(self.names)


PosthocTest = Literal["nemenyi", "wilcoxon_holm"]


class StudySelectBy(_Strict):
    """``select: {by: silhouette}``: the setting with the best mean of this score (an
    internal one, for a fair model selection) stands for its algorithm on a dataset."""

    by: str = Field(min_length=1)


class Study(_Strict):
    """``study``: how the parent run compares the algorithms across the datasets.

    ``score`` is the logged name of the metric compared; ``select`` chooses each
    algorithm's setting per dataset: ``oracle`` (the best by ``score`` itself, as the
    benchmark tables report) or ``{by: METRIC}``; ``posthoc`` names the test after the
    Friedman test; ``alpha`` its level; ``stability`` whether the agreement between
    seeds is measured; ``missing`` what an absent score does to the ranks.
    """

    score: str = Field(min_length=1)
    select: Literal["oracle"] | StudySelectBy = "oracle"
    posthoc: PosthocTest = "nemenyi"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    stability: bool = True
    #: Where an algorithm has no defined score on a dataset (normalized clustering
    #: accuracy of a method that found another number of clusters, say): ``drop`` leaves
    #: the dataset out of the ranks and tests, ``worst`` ranks that algorithm last there.
    missing: Literal["drop", "worst"] = "drop"

    @model_validator(mode="after")
    def _worst_needs_ranks(self) -> Study:
        if self.missing == "worst" and self.posthoc != "nemenyi":
            raise ValueError(
                "missing: worst ranks an absent score last, which only a rank test can "
                "use: take posthoc: nemenyi, or missing: drop"
            )
        return self


class Tracking(_Strict):
    """Where results go: an MLflow tracking URI (default: MLflow's ``sqlite:///mlflow.db``)."""

    uri: str | None = None
    artifact_location: str | None = None


class Executor(_Strict):
    """How trials are executed; ``local`` runs them in this process, one after the other."""

    model_config = ConfigDict(extra="allow")
    name: str = "local"

    @property
    def options(self) -> dict[str, Any]:
        """The executor's options (every key but ``name``)."""
        return dict(self.model_extra or {})


class Experiment(_Strict):
    """A whole experiment file."""

    name: str = Field(min_length=1)
    description: str = ""
    device: str = "auto"
    dtype: Literal["float32", "float64"] = "float32"
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1)
    datasets: list[DatasetEntry] = Field(min_length=1)
    algorithms: list[Component] = Field(min_length=1)
    metrics: list[MetricEntry] = Field(default_factory=list)
    plots: Plots = Field(default_factory=Plots)
    tracking: Tracking = Field(default_factory=Tracking)
    executor: Executor = Field(default_factory=Executor)
    study: Study | None = None
    #: Seconds one trial may run before it is stopped and logged FAILED; none by default.
    timeout_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @field_validator("metrics", mode="before")
    @classmethod
    def _metric_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value.strip().lower()):
            raise ValueError(f"unknown device '{value}': use auto, cpu, cuda, cuda:N or mps")
        return value.strip().lower()

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds repeat: each seed may appear once")
        return seeds
