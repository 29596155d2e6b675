"""Run configuration: YAML, overrides, strict keys, clear errors."""

from __future__ import annotations

import pytest

from training.config import RunConfig, load_config, save_config


def test_defaults_yaml_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  lr: 3e-4\nmodel:\n  name: fno\n  hyperparameters: {width: 8}\n")
    config = load_config(path, ["train.epochs=3", "model.hyperparameters.modes=4", "train.ema_decay=0.99"])
    assert config.optim.lr == 3e-4 and config.train.epochs == 3 and config.train.ema_decay == 0.99
    assert config.model.hyperparameters == {"width": 8, "modes": 4}
    save_config(config, tmp_path / "again.yaml")
    assert load_config(tmp_path / "again.yaml").to_dict() == config.to_dict()
    assert RunConfig().data.history == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lrr=1"], "unknown config key 'optim.lrr'; valid keys in optim: name, lr"),
        (["nope.x=1"], "unknown config key 'nope'; valid keys in the config: data, model"),
        (["train.precision=fp8"], "train.precision = 'fp8' is not one of fp32, bf16, fp16"),
        (["data.batch_size=0"], "data.batch_size must be a positive integer"),
        (["optim.lr=fast"], "optim.lr expects a number"),
        (["epochs"], "--set expects key=value"),
        (["task.kind=operator", "data.history=2"], "operator maps the first frame to the last"),
        # architectures that only one task trains, and tasks that train only them (were tracebacks deep inside)
        (
            ["model.name=semilinear-observer"],
            r"trains with task.kind = observer \(--set task.kind=observer\), not next-step",
        ),
        (["model.name=latent-dit"], "model.name = latent-dit trains with task.kind = latent-diffusion"),
        (["model.name=trajectory-autoencoder", "task.kind=physics"], "trains with task.kind = autoencoder"),
        (["task.kind=autoencoder"], "task.kind = autoencoder trains model.name = trajectory-autoencoder, not fno"),
        (["task.kind=observer", "model.name=unet"], "task.kind = observer trains model.name = semilinear-observer"),
    ],
)
def test_bad_settings_are_rejected_clearly(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, overrides)


def test_missing_or_broken_config_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config file"):
        load_config(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("optim: [unclosed")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
