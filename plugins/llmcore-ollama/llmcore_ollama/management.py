"""Ollama model management: the progress and model-detail types and their parsers (pure)."""

from __future__ import annotations

from typing import Any

import attrs

from llmcore import HttpResponse

__all__ = ["ModelDetails", "PullProgress", "parse_show"]


def _opt_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


@attrs.frozen
class PullProgress:
    """One progress line of ``POST /api/pull``.

    ``status`` is Ollama's text (``pulling manifest``, ``pulling <digest>``, ``verifying sha256
    digest``, ``writing manifest``, ``success``); while a layer downloads, ``digest`` names it
    and ``total`` / ``completed`` count its bytes (``completed`` may be absent at first).
    ``raw`` is the line as the server sent it.
    """

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> PullProgress:
        """A progress record from one NDJSON line (a JSON object)."""
        return cls(
            str(obj.get("status") or ""),
            _opt_str(obj.get("digest")),
            _opt_int(obj.get("total")),
            _opt_int(obj.get("completed")),
            dict(obj),
        )

    @property
    def fraction(self) -> float | None:
        """``completed / total`` in [0, 1] for a layer download, else None."""
        if not self.total:
            return None
        return min(1.0, max(0.0, (self.completed or 0) / self.total))

    @property
    def succeeded(self) -> bool:
        """True for the last line of a successful pull (``status: "success"``)."""
        return self.status == "success"


@attrs.frozen
class ModelDetails:
    """What ``POST /api/show`` says of a model.

    ``capabilities`` lists what it can do (``completion``, ``tools``, ``vision``,
    ``thinking``, ``embedding``...; empty when the server is too old to say);
    ``context_length`` comes from ``model_info["<architecture>.context_length"]``;
    ``details`` holds ``family``, ``parameter_size``, ``quantization_level``, ``format``...;
    ``raw`` is the whole answer.
    """

    name: str
    capabilities: tuple[str, ...] = ()
    context_length: int | None = None
    details: dict[str, Any] = attrs.field(factory=dict)
    model_info: dict[str, Any] = attrs.field(factory=dict, repr=False)
    parameters: str | None = attrs.field(default=None, repr=False)
    template: str | None = attrs.field(default=None, repr=False)
    modelfile: str | None = attrs.field(default=None, repr=False)
    modified_at: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def family(self) -> str | None:
        """The model family (``llama``, ``qwen2``...), if reported."""
        return _opt_str(self.details.get("family"))

    @property
    def parameter_size(self) -> str | None:
        """The parameter count as Ollama writes it (``8.0B``), if reported."""
        return _opt_str(self.details.get("parameter_size"))

    @property
    def quantization_level(self) -> str | None:
        """The quantization (``Q4_K_M``), if reported."""
        return _opt_str(self.details.get("quantization_level"))

    def supports(self, capability: str) -> bool:
        """True when ``capability`` (``"tools"``, ``"vision"``, ``"thinking"``...) is listed."""
        return capability in self.capabilities


def _context_length(model_info: dict[str, Any]) -> int | None:
    arch = model_info.get("general.architecture")
    if isinstance(arch, str):
        found = _opt_int(model_info.get(f"{arch}.context_length"))
        if found is not None:
            return found
    for key, value in model_info.items():
        if key.endswith(".context_length"):
            return _opt_int(value)
    return None


def parse_show(name: str, response: HttpResponse) -> ModelDetails:
    """``POST /api/show`` -> :class:`ModelDetails` for the model called ``name``."""
    body = response.json()
    if not isinstance(body, dict):
        raise TypeError(f"expected a JSON object, got {type(body).__name__}")
    info = _dict(body.get("model_info"))
    caps = body.get("capabilities")
    return ModelDetails(
        name=name,
        capabilities=tuple(str(c) for c in caps) if isinstance(caps, list) else (),
        context_length=_context_length(info),
        details=_dict(body.get("details")),
        model_info=info,
        parameters=_opt_str(body.get("parameters")),
        template=_opt_str(body.get("template")),
        modelfile=_opt_str(body.get("modelfile")),
        modified_at=_opt_str(body.get("modified_at")),
        raw=body,
    )
