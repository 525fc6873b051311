import pytest
from transformers import GenerationConfig

from audit.errors import UserError
from audit.params import GenerationParams, config_to_record, effective_config


@pytest.mark.parametrize(
    "params, fragment",
    [
        (GenerationParams(temperature=-0.1), "temperature must be >= 0"),
        (GenerationParams(top_p=0.0), "top_p must be in (0, 1]"),
        (GenerationParams(top_p=1.5), "top_p must be in (0, 1]"),
        (GenerationParams(max_new_tokens=0), "max_new_tokens must be at least 1"),
        (GenerationParams(num_beams=0), "num_beams must be at least 1"),
    ],
)
def test_invalid_parameters_name_the_problem(params, fragment):
    with pytest.raises(UserError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        params.validate()


def test_effective_config_merges_model_defaults_and_fills_library_defaults():
    model_defaults = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2, repetition_penalty=1.1)
    config = effective_config(model_defaults, GenerationParams(max_new_tokens=7))
    record = config_to_record(config)
    assert record["max_new_tokens"] == 7
    assert record["repetition_penalty"] == 1.1  # the model's own default survives
    assert record["do_sample"] is False and record["num_beams"] == 1
    assert record["top_k"] == 50 and record["top_p"] == 1.0  # library defaults made explicit
    assert "transformers_version" not in record
    assert model_defaults.max_new_tokens is None  # the model's config is not mutated


def test_temperature_implies_sampling_and_zero_means_greedy():
    base = GenerationConfig(eos_token_id=2)
    assert effective_config(base, GenerationParams(temperature=0.7)).do_sample is True
    assert effective_config(base, GenerationParams(temperature=0.0)).do_sample is False


def test_default_max_new_tokens_and_pad_from_eos():
    config = effective_config(GenerationConfig(eos_token_id=[5, 6]), GenerationParams())
    assert config.max_new_tokens == 64
    assert config.pad_token_id == 5


def test_stop_strings_are_checked_and_become_part_of_the_effective_configuration(tiny_loaded):
    with pytest.raises(UserError, match="stop_strings must be a list of non-empty strings"):
        GenerationParams(stop_strings=["ok", ""]).validate()
    with pytest.raises(UserError, match="stop_strings"):
        GenerationParams(stop_strings="\n").validate()
    config = effective_config(tiny_loaded.model.generation_config, GenerationParams(stop_strings=["\n\n"]))
    assert config_to_record(config)["stop_strings"] == ["\n\n"]
