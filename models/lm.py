"""A small language model of Gated DeltaProduct blocks, for the toolkit's sequence-to-sequence tasks: token
embedding, blocks of (RMSNorm → :class:`models.GatedDeltaProduct` → residual, RMSNorm → gated MLP →
residual), a final RMSNorm and a linear head giving one logit per class at every position; with
``start_token`` the model reads a start token (id ``vocab_size``, one more embedding row) before every word
and drops its output (:func:`models.from_program`'s constructions write their initial state there). Names follow
fla's ``GatedDeltaProductModel`` (``embeddings``, ``layers.i.attn_norm``, ``layers.i.attn``,
``layers.i.mlp_norm``, ``layers.i.mlp``, ``norm``) with ``lm_head`` on top."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from models.layer import GatedDeltaProduct
from models.modules import GatedMLP, RMSNorm

__all__ = ["ModelConfig", "DeltaProductLM", "config_object"]


def config_object(data, cls, what: str) -> dict:
    """``data`` checked as the JSON object of the dataclass ``cls`` (named ``what`` in errors): an object,
    with no field ``cls`` does not have. Returns a copy to convert and pass to ``cls``."""
    if not isinstance(data, dict):
        raise ValueError(f"{what}: expected an object, got {type(data).__name__}")
    unknown = set(data) - set(cls.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{what}: unknown fields {sorted(unknown)}")
    return dict(data)


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes a :class:`DeltaProductLM`'s parameters (written to ``config.json``)."""

    vocab_size: int
    num_classes: int
    num_layers: int = 1
    num_heads: int = 2
    head_dim: int = 16
    hidden_size: int | None = None  # num_heads · head_dim
    num_householder: int = 2
    allow_neg_eigval: bool = True
    use_forget_gate: bool = True
    use_short_conv: bool = True
    use_output_gate: bool = True
    expand_v: float = 1
    mlp_ratio: int = 4
    start_token: bool = False

    def __post_init__(self):
        for name in (
            "vocab_size",
            "num_classes",
            "num_layers",
            "num_heads",
            "head_dim",
            "num_householder",
            "mlp_ratio",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if self.hidden_size is not None and (not isinstance(self.hidden_size, int) or self.hidden_size < 1):
            raise ValueError(f"hidden_size: expected a positive integer or None, got {self.hidden_size!r}")

    @property
    def hidden(self) -> int:
        return self.hidden_size or self.num_heads * self.head_dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """A config from ``config.json``'s ``model`` object: every field checked, unknown ones refused."""
        data = config_object(data, cls, "model")
        for name in ("allow_neg_eigval", "use_forget_gate", "use_short_conv", "use_output_gate", "start_token"):
            if name in data and not isinstance(data[name], bool):
                raise ValueError(f"model.{name}: expected true or false, got {data[name]!r}")
        if "expand_v" in data and (
            isinstance(data["expand_v"], bool) or not isinstance(data["expand_v"], (int, float))
        ):
            raise ValueError(f"model.expand_v: expected a number, got {data['expand_v']!r}")
        return cls(**data)


class _Block(nn.Module):
    def __init__(self, config: ModelConfig, backend: str):
        super().__init__()
        hidden = config.hidden
        self.attn_norm = RMSNorm(hidden)
        self.attn = GatedDeltaProduct(
            hidden_size=hidden, expand_v=config.expand_v, head_dim=config.head_dim, num_heads=config.num_heads,
            use_short_conv=config.use_short_conv, use_output_gate=config.use_output_gate,
            use_forget_gate=config.use_forget_gate,
            allow_neg_eigval=config.allow_neg_eigval, num_householder=config.num_householder, backend=backend,
        )  # fmt: skip
        self.mlp_norm = RMSNorm(hidden)
        self.mlp = GatedMLP(hidden, config.mlp_ratio * hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x))[0]
        return x + self.mlp(self.mlp_norm(x))


class DeltaProductLM(nn.Module):
    """Logits [B, T, num_classes] for tokens [B, T] (int64 in [0, vocab_size)). ``backend`` is every
    layer's :func:`kernels.delta_product` backend; :meth:`layer_inputs` gives what each layer's recurrence
    sees (for :meth:`models.GatedDeltaProduct.factors` and ``transitions``)."""

    def __init__(self, config: ModelConfig, backend: str = "auto"):
        super().__init__()
        self.config = config
        self.embeddings = nn.Embedding(config.vocab_size + config.start_token, config.hidden)
        self.layers = nn.ModuleList(_Block(config, backend) for _ in range(config.num_layers))
        self.norm = RMSNorm(config.hidden)
        self.lm_head = nn.Linear(config.hidden, config.num_classes, bias=False)
        self.apply(_initialise)

    def set_backend(self, backend: str) -> None:
        for block in self.layers:
            block.attn.backend = backend

    def _check(self, tokens: torch.Tensor) -> None:
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2 or tokens.dtype not in (torch.int32, torch.int64):
            got = f"{tokens.dtype} {tuple(tokens.shape)}" if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"tokens: expected an int64 tensor [B, T], got {got}")
        if tokens.numel() and not (0 <= int(tokens.min()) and int(tokens.max()) < self.config.vocab_size):
            raise ValueError(f"tokens: expected ids in [0, {self.config.vocab_size}), got [{int(tokens.min())}, "
                             f"{int(tokens.max())}]")  # fmt: skip

    def forward(self, tokens: torch.Tensor, check_ids: bool = True) -> torch.Tensor:
        """Logits [B, T, num_classes]. ``check_ids`` refuses ids outside the vocabulary by name, which reads
        their range (a synchronisation on a GPU); training and evaluation on the task's own words skip it."""
        if check_ids:
            self._check(tokens)
        x = self._embed(tokens)
        for block in self.layers:
            x = block(x)
        return self.lm_head(self.norm(x))[:, int(self.config.start_token) :]

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """The embeddings of ``tokens``, after the start token's where the config has one."""
        if self.config.start_token:
            start = tokens.new_full((tokens.shape[0], 1), self.config.vocab_size)
            tokens = torch.cat([start, tokens], dim=1)
        return self.embeddings(tokens)

    def layer_inputs(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The normalised input of every layer's GatedDeltaProduct, [B, T, hidden] each (T + 1 with a start
        token, which comes first)."""
        self._check(tokens)
        x, inputs = self._embed(tokens), []
        for block in self.layers:
            inputs.append(block.attn_norm(x))
            x = block(x)
        return inputs


def _initialise(module: nn.Module) -> None:
    """fla's initialisation of linear layers (Xavier-uniform, gain 2^-2.5) and embeddings (N(0, 0.02²))."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight, gain=2**-2.5)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
