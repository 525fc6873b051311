"""Recording with the tiny model: what is stored equals what generation produced, and is right."""

import hashlib
import zlib

import numpy as np
import pytest

from audit import Auditor
from audit.scoring import teacher_forced
from audit.store import AuditStore
from audit.token_blob import unpack


@pytest.fixture
def auditor(tiny_loaded, db_path):
    return Auditor(db=db_path, model=tiny_loaded, operator="tester")


def test_stored_record_equals_generated_record(auditor, db_path):
    record = auditor.generate(
        prompt="Applicant income 42000, score 580. Decision:", max_new_tokens=8, use_case="credit-decision"
    )
    stored = auditor.get(record.id)
    assert stored.to_dict() == record.to_dict()
    assert stored.seq == 1
    assert stored.input_ids == auditor.loaded.tokenizer("Applicant income 42000, score 580. Decision:")["input_ids"]
    assert len(stored.output_ids) == 8 and stored.finish_reason == "length"
    assert stored.use_case == "credit-decision" and stored.operator == "tester"
    assert stored.generation_config["max_new_tokens"] == 8
    assert stored.generation_config["do_sample"] is False
    assert stored.generation_config["batch_size"] == 1
    with AuditStore.open(db_path) as store:
        events = list(store.events.iter(subject_id=record.id))
        assert [e.kind for e in events] == ["generation"]
        # records version 4: the payload names the token arrays' blob, whose bytes the chain covers through its key
        digest = events[0].payload["output_ids"]["blob"]
        assert events[0].payload["top_logprobs"] == {"blob": digest}
        data = store.blobs.stored_bytes(digest)
    assert hashlib.sha256(data).hexdigest() == digest
    body = zlib.decompress(data).split(b"\n", 1)[1]
    assert unpack(body)[0] == record.output_ids


@pytest.mark.parametrize("params", [{}, {"do_sample": True, "temperature": 0.8, "top_p": 0.9}, {"num_beams": 3}])
def test_stored_logprobs_equal_teacher_forced_pass(auditor, params):
    record = auditor.generate(prompt="Summarise: rates unchanged at 2%.", max_new_tokens=10, seed=11, **params)
    reference = teacher_forced(auditor.loaded.model, record.input_ids, record.output_ids)
    np.testing.assert_allclose(record.token_logprobs, reference.token_logprobs, atol=1e-4, rtol=0)
    for step, alternatives in enumerate(record.top_logprobs):
        assert len(alternatives) == 5
        values = [a.logprob for a in alternatives]
        assert values == sorted(values, reverse=True)
        assert [a.token_id for a in alternatives] == reference.top_ids[step]
        assert record.token_logprobs[step] <= values[0] + 1e-6


def test_greedy_chooses_the_argmax(auditor):
    record = auditor.generate(prompt="Counterparty leverage 5.8x.", max_new_tokens=6)
    assert [step[0].token_id for step in record.top_logprobs] == record.output_ids


def test_sampling_is_reproducible_from_the_seed(auditor):
    kwargs = dict(prompt="Risk rating:", max_new_tokens=12, do_sample=True, temperature=1.5, top_k=0)
    a = auditor.generate(seed=5, **kwargs)
    b = auditor.generate(seed=5, **kwargs)
    c = auditor.generate(seed=6, **kwargs)
    assert a.output_ids == b.output_ids
    assert a.output_ids != c.output_ids
    assert a.id != b.id and b.seq == a.seq + 1


def test_model_identity_hashes_equal_hashlib(auditor, tiny_model_dir):
    record = auditor.generate(prompt="Hello", max_new_tokens=2)
    identity = record.model
    weights = tiny_model_dir / "model.safetensors"
    assert identity.weights_sha256 == {"model.safetensors": hashlib.sha256(weights.read_bytes()).hexdigest()}
    assert identity.config_sha256 == hashlib.sha256((tiny_model_dir / "config.json").read_bytes()).hexdigest()
    assert (
        identity.tokenizer_sha256["tokenizer.json"]
        == hashlib.sha256((tiny_model_dir / "tokenizer.json").read_bytes()).hexdigest()
    )
    template = auditor.loaded.tokenizer.chat_template
    assert identity.chat_template_sha256 == hashlib.sha256(template.encode()).hexdigest()
    assert identity.parameter_count == sum(p.numel() for p in auditor.loaded.model.parameters())
    assert identity.architecture == "LlamaForCausalLM" and identity.context_length == 512


def test_environment_is_captured(auditor):
    env = auditor.generate(prompt="Hello", max_new_tokens=1).environment
    assert env.packages["torch"].startswith("2.") and env.packages["transformers"]
    assert env.device == "cpu" and env.dtype == "float32" and env.threads >= 1
    assert env.determinism["deterministic_algorithms"] is True


def test_eos_finish_reason(tiny_loaded, db_path):
    """A forward hook makes end-of-sequence the argmax; generation must stop and say so."""
    auditor = Auditor(db=db_path, model=tiny_loaded)

    def favour_eos(module, inputs, logits):
        logits = logits.clone()
        logits[..., 2] += 1000.0
        return logits

    handle = tiny_loaded.model.lm_head.register_forward_hook(favour_eos)
    try:
        record = auditor.generate(prompt="Decision:", max_new_tokens=5)
    finally:
        handle.remove()
    assert record.output_ids == [2]
    assert record.finish_reason == "eos"
    assert record.output_text == ""
    assert record.token_logprobs[0] == pytest.approx(0.0, abs=1e-6)
