"""How an export's rows are shaped for the trainer that reads them (issue 14), as opposed
to which labels it holds (exports.filters). Checked against allow-lists like the filters.

- `flavour`: `trl` (TRL's preference format, standard or conversational), `openrlhf`
  (the same conversational rows, for OpenRLHF's `--data.apply_chat_template`), or
  `llamafactory` (LLaMA-Factory's ShareGPT ranking rows: the prompt as `conversations`,
  `chosen` and `rejected` as one message object each, with a `dataset_info.json` entry);
- `conversational`: prompts as message lists (a text prompt becomes one user message)
  and responses as one assistant message. Unset, it follows the data: conversational
  when the project has any chat prompt. TRL and OpenRLHF join a string prompt and a
  string response with nothing between them, so text prompts for a chat model should be
  asked for conversational;
- `margin`: a `margin` column, which TRL's reward loss subtracts from the reward gap
  and OpenRLHF's margin loss reads. Only on request, with its source (`rank_gap` for the
  per-rater formats: how many rank groups apart the two responses were; `vote_margin`
  for consensus: (for - against) / votes) and a scale it is multiplied by, both
  recorded in the manifest.
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from exports.filters import ExportInvalid

FLAVOURS = ("trl", "openrlhf", "llamafactory")
PREFERENCE_FORMATS = ("pairwise", "consensus")
MARGIN_SOURCES = {"rank_gap": ("pairwise", "hh"), "vote_margin": ("consensus",)}
MAX_SCALE = 1000.0


@dataclass(frozen=True)
class Margin:
    source: str
    scale: float


@dataclass(frozen=True)
class ExportOptions:
    flavour: str = "trl"
    conversational: bool | None = None  # None: as the data needs
    margin: Margin | None = None

    def as_dict(self) -> dict:
        """The options as stored on the export and in its manifest: set keys only."""
        result: dict = {"flavour": self.flavour}
        if self.conversational is not None:
            result["conversational"] = self.conversational
        if self.margin is not None:
            result["margin"] = {"source": self.margin.source, "scale": self.margin.scale}
        return result

    @classmethod
    def from_dict(cls, data: dict | None) -> "ExportOptions":
        """Options as stored (already checked)."""
        data = data or {}
        margin = data.get("margin")
        return cls(
            flavour=data.get("flavour", "trl"),
            conversational=data.get("conversational"),
            margin=Margin(margin["source"], float(margin["scale"])) if margin else None,
        )


def options_parse(
    *, format: str, flavour: object = None, conversational: object = None, margin: object = None
) -> ExportOptions:
    """The options of an export request: every field checked against the format."""
    errors: list[tuple[str, str]] = []
    flavour = "trl" if flavour in (None, "") else flavour
    if flavour not in FLAVOURS:
        errors.append(
            ("flavour", _("Unknown flavour. Known: %(known)s.") % {"known": ", ".join(FLAVOURS)})
        )
    elif flavour != "trl" and format not in PREFERENCE_FORMATS:
        errors.append(("flavour", _("Flavours are for the pairwise and consensus formats.")))
    if conversational is not None:
        if not isinstance(conversational, bool):
            errors.append(("conversational", _("true or false.")))
        elif format not in PREFERENCE_FORMATS:
            errors.append(
                (
                    "conversational",
                    _(
                        "Applies to pairwise and consensus: hh rows are transcripts and "
                        "annotations always give messages."
                    ),
                )
            )
        elif conversational is False and flavour in ("openrlhf", "llamafactory"):
            errors.append(("conversational", _("This flavour's rows are always conversational.")))
    parsed_margin = None
    if margin is not None:
        parsed_margin, margin_errors = _margin(margin, format=format)
        errors.extend(margin_errors)
        if parsed_margin is not None and flavour == "llamafactory":
            errors.append(("margin", _("LLaMA-Factory reads no margin.")))
    if errors:
        raise ExportInvalid(errors)
    return ExportOptions(
        flavour=str(flavour),
        conversational=conversational if isinstance(conversational, bool) else None,
        margin=parsed_margin,
    )


def _margin(value: object, *, format: str) -> tuple[Margin | None, list[tuple[str, str]]]:
    if not isinstance(value, dict):
        return None, [("margin", _('An object: {"source": "rank_gap", "scale": 1.0}.'))]
    errors = [
        (f"margin.{key}", _("Unknown field.")) for key in sorted(set(value) - {"source", "scale"})
    ]
    sources = [s for s, formats in MARGIN_SOURCES.items() if format in formats]
    source = value.get("source")
    if source is None:
        errors.append(
            (
                "margin.source",
                _("Say where the margin comes from: %(known)s.")
                % {"known": ", ".join(sources) or "—"},
            )
        )
    elif source not in sources:
        errors.append(
            (
                "margin.source",
                _("Not a margin source of this format. Known: %(known)s.")
                % {"known": ", ".join(sources) or "—"},
            )
        )
    scale = value.get("scale")
    if scale is None:
        errors.append(("margin.scale", _("Say what the source is multiplied by, e.g. 1.0.")))
    elif (
        isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale <= MAX_SCALE
    ):
        errors.append(("margin.scale", _("A number above 0 and at most 1000.")))
    if errors:
        return None, errors
    assert scale is not None  # a missing scale left an error
    return Margin(source=str(source), scale=float(scale)), []
