"""The training config: YAML in, CLI overrides, unknown keys refused, resolved YAML out."""

from __future__ import annotations

import pytest
import yaml

from neuralmd_core.errors import ConfigError, InputError
from neuralmd_core.training.config import (
    config_changes,
    config_to_dict,
    dump_config,
    load_config,
)


def test_defaults_are_the_papers():
    cfg = load_config(None, {})
    assert (cfg.lr, cfg.weight_decay, cfg.epochs, cfg.grad_clip) == (1e-4, 0.0, 32, None)
    assert cfg.global_batch_size == 1 and cfg.optimizer == "adam" and cfg.eval_every == 1
    assert load_config(None, {"task": "multi"}).global_batch_size == 32
    # network and method sections are filled with every default of their own schemas
    assert cfg.network["hidden"] == 128 and cfg.network["cutoff"] == 5.0
    assert cfg.method["step"] == 0.5 and cfg.method["solver"] == "euler"


def test_unknown_top_level_key_is_a_one_line_error(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("epochs: 3\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, {})
    assert str(err.value) == f"{path}: unknown key 'learning_rate'"


def test_unknown_keys_inside_network_and_method_are_errors(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("network: {hiden: 8}\n")
    with pytest.raises(ConfigError, match="unknown key 'network.hiden'"):
        load_config(path, {})
    path.write_text("model: gnn-md\nmethod: {solver: rk4}\n")  # an ODE option, not gnn-md's
    with pytest.raises(ConfigError, match="unknown key 'method.solver'"):
        load_config(path, {})


def test_bad_values_and_files(tmp_path):
    with pytest.raises(ConfigError, match="lr"):
        load_config(None, {"lr": -1.0})
    with pytest.raises(ConfigError, match="unknown method"):
        load_config(None, {"model": "transformer-md"})
    with pytest.raises(InputError, match="config file not found"):
        load_config(tmp_path / "missing.yaml", {})
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad, {})


def test_cli_flags_override_the_file_and_nested_sections_merge(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("epochs: 5\nseed: 3\nlr: 0.01\nnetwork: {hidden: 32, cutoff: 6.0}\n")
    cfg = load_config(path, {"epochs": 7, "seed": None, "network": {"hidden": 16}})
    assert cfg.epochs == 7  # flag wins
    assert cfg.seed == 3 and cfg.lr == 0.01  # unset flag (None) keeps the file's value
    assert cfg.network["hidden"] == 16 and cfg.network["cutoff"] == 6.0


def test_resolved_yaml_round_trips_and_changes_are_listed(tmp_path):
    cfg = load_config(None, {"model": "gnn-md", "epochs": 4})
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_config(cfg))
    again = load_config(path, {})
    assert config_to_dict(again) == config_to_dict(cfg)
    old = yaml.safe_load(dump_config(cfg))
    new = yaml.safe_load(dump_config(load_config(path, {"epochs": 9, "lr": 0.5})))
    assert config_changes(old, new) == ["lr"]  # epochs may change on --resume


def test_a_methods_recipe_sits_under_the_file_and_the_flags(tmp_path):
    """defaults < Method.recipe < config file < flags; ``network`` merges key by key."""
    from neuralmd_core.dynamics.neuralmd_sde import NeuralMDSDE

    plain = load_config(None, {"model": "neuralmd-sde"})
    assert plain.lr == NeuralMDSDE.recipe["lr"] and plain.epochs == NeuralMDSDE.recipe["epochs"]
    assert plain.network["cutoff"] == 8.0 and plain.network["hidden"] == 32
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: neuralmd-sde\nlr: 0.0005\nnetwork: {hidden: 64}\n")
    mixed = load_config(cfg, {"epochs": 3})
    assert (mixed.lr, mixed.epochs) == (0.0005, 3)
    assert mixed.network["hidden"] == 64 and mixed.network["cutoff"] == 8.0
    other = load_config(None, {"model": "neuralmd-ode"})  # no recipe: the global defaults
    assert other.lr == 1e-4 and other.epochs == 32 and other.network["cutoff"] == 5.0


def test_errors_name_the_flag_or_the_file(tmp_path):
    """A bad value from the command line names the flag; one from the file names the file."""
    with pytest.raises(ConfigError) as err:
        load_config(None, {"lr": -1.0})
    assert err.value.path == "--lr" and "greater than 0" in err.value.problem
    assert "-1.0" in err.value.problem
    with pytest.raises(ConfigError) as err:
        load_config(None, {"batch_size": 0, "device": "cpu"})
    assert err.value.path == "--batch-size"
    with pytest.raises(ConfigError) as err:
        load_config(None, {"model": "gnn-md", "method": {"adjoint": True}})
    assert err.value.path == "--adjoint" and "method.adjoint" in err.value.problem
    path = tmp_path / "cfg.yaml"
    path.write_text("lr: -1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, {"epochs": 3})
    assert err.value.path == str(path) and err.value.problem.startswith("lr: ")
    with pytest.raises(ConfigError, match="finite"):
        load_config(None, {"lr": float("inf")})
    with pytest.raises(ConfigError, match="--seed"):
        load_config(None, {"seed": -1})


def test_files_that_are_not_yaml_configs(tmp_path):
    from neuralmd_core.training.config import check_settings

    (tmp_path / "empty.yaml").write_bytes(b"")
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)))
    (tmp_path / "intkey.yaml").write_text("1: 2\n")
    with pytest.raises(InputError, match="empty"):
        check_settings(tmp_path / "empty.yaml", {})
    with pytest.raises(InputError, match="directory"):
        check_settings(tmp_path, {})
    with pytest.raises(ConfigError, match="binary"):
        check_settings(tmp_path / "binary.yaml", {})
    with pytest.raises(ConfigError, match="keys must be names"):
        check_settings(tmp_path / "intkey.yaml", {})
    check_settings(None, {"epochs": 0, "lr": 1e-3})  # valid settings pass silently
